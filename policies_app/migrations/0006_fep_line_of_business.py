from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("policies_app", "0005_documented_criteria_and_allowed_values"),
    ]

    operations = [
        migrations.AlterField(
            model_name="requirementrule",
            name="line_of_business",
            field=models.CharField(
                blank=True,
                choices=[
                    ("commercial", "Commercial"),
                    ("medicare_advantage", "Medicare Advantage"),
                    ("medicaid", "Medicaid"),
                    ("chip", "CHIP"),
                    ("exchange", "Exchange (ACA marketplace)"),
                    ("fep", "Federal Employee Program (FEP)"),
                ],
                help_text="Blank for every line of business.",
                max_length=30,
            ),
        ),
    ]
