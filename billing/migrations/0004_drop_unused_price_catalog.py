# The database price catalog nothing read (models, services, selectors, `load_catalog`) is gone.
# Tables are dropped whole, the referencing ones first: removing the foreign keys one by one first
# makes SQLite rebuild a table whose unique constraint still names the removed column.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('billing', '0003_serverless_unfit_pod_seconds'),
    ]

    operations = [
        migrations.DeleteModel(name='SpotPriceObservation'),
        migrations.DeleteModel(name='Offering'),
        migrations.DeleteModel(name='InstanceType'),
        migrations.DeleteModel(name='ServerlessPrice'),
        migrations.DeleteModel(name='ServerlessShape'),
    ]
