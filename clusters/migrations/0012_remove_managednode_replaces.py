from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0011_managednode_replaced_by"),
    ]

    operations = [
        migrations.RemoveField(model_name="managednode", name="replaces"),
    ]
