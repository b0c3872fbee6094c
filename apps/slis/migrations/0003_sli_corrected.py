from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("slis", "0002_alertrule_slo"),
    ]

    operations = [
        migrations.AddField(
            model_name="sli",
            name="use_corrected",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="sli",
            name="corrected_min_labels",
            field=models.PositiveIntegerField(default=30),
        ),
    ]
