"""Consolidation's link turned round: the old rows name their replacement (`replaced_by`), so one
new node can replace several; the rows that named the node they replaced (`replaces`) are carried
over (0012 drops that field, in a transaction of its own: PostgreSQL refuses to alter a table with
the updates' deferred foreign-key checks pending)."""

import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    ManagedNode = apps.get_model("clusters", "ManagedNode")
    for new in ManagedNode.objects.exclude(replaces=None).only("pk", "replaces_id"):
        ManagedNode.objects.filter(pk=new.replaces_id, replaced_by=None).update(replaced_by=new.pk)


def backwards(apps, schema_editor):
    ManagedNode = apps.get_model("clusters", "ManagedNode")
    for old in ManagedNode.objects.exclude(replaced_by=None).only("pk", "replaced_by_id"):
        ManagedNode.objects.filter(pk=old.replaced_by_id, replaces=None).update(replaces=old.pk)


class Migration(migrations.Migration):
    dependencies = [
        ("clusters", "0010_stack_reading_and_root_volume"),
    ]

    operations = [
        migrations.AlterField(
            model_name="managednode",
            name="replaces",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="clusters.managednode",
            ),
        ),
        migrations.AddField(
            model_name="managednode",
            name="replaced_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="replacing",
                to="clusters.managednode",
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]
