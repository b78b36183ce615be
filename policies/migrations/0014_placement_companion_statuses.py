from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("policies", "0013_deployment_revisions"),
    ]

    operations = [
        migrations.RenameField(model_name="placement", old_name="load_balancers", new_name="companion_statuses"),
    ]
