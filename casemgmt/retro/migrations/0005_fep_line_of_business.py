from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retro", "0004_one_open_item_per_case_policy"),
    ]

    operations = [
        migrations.AlterField(
            model_name="retrorun",
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
                max_length=30,
            ),
        ),
    ]
