"""Consolidation's link turned round: the old rows name their replacement (`replaced_by`), so one
new node can replace several; the rows that named the node they replaced (`replaces`) are carried
over before that field goes. The copies check their foreign keys at once: PostgreSQL refuses to
alter a table while deferred checks are pending (SQLite, the embedded default, checks them at once
already and has no such statement)."""

import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    ManagedNode = apps.get_model("clusters", "ManagedNode")
    for new, old in ManagedNode.objects.exclude(replaces=None).values_list("pk", "replaces"):
        ManagedNode.objects.filter(pk=old, replaced_by=None).update(replaced_by=new)
    _check_now(schema_editor)


def _check_now(schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def backwards(apps, schema_editor):
    ManagedNode = apps.get_model("clusters", "ManagedNode")
    for old, new in ManagedNode.objects.exclude(replaced_by=None).values_list("pk", "replaced_by"):
        ManagedNode.objects.filter(pk=new, replaces=None).update(replaces=old)
    _check_now(schema_editor)


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
        migrations.RemoveField(model_name="managednode", name="replaces"),
    ]
