from django.db import migrations, models


class Migration(migrations.Migration):
    """Pods a policy leaves alone (never planned for nor touched), by namespace or label."""

    dependencies = [
        ("policies", "0005_kubernetes_api_objects"),
    ]

    operations = [
        migrations.AddField(
            model_name="provisioningpolicy",
            name="exclude_namespaces",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="provisioningpolicy",
            name="exclude_label_selectors",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
