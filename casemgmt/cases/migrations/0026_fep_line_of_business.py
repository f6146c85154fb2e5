from typing import Any

from django.db import migrations, models

# FEHB carriers reconsider a disputed claim asked for within six months of the decision
# (5 CFR 890.105(b)(1)); 184 days is the longest six-month span, so no member loses a day.
FEP_APPEAL_WINDOW = ("fep", 184, "5 CFR 890.105(b)(1)")


def seed_fep_appeal_window(apps: Any, schema_editor: Any) -> None:
    lob, days, source = FEP_APPEAL_WINDOW
    apps.get_model("casemgmt", "AppealWindow").objects.get_or_create(
        line_of_business=lob, defaults={"days": days, "source": source}
    )


def remove_fep_appeal_window(apps: Any, schema_editor: Any) -> None:
    apps.get_model("casemgmt", "AppealWindow").objects.filter(line_of_business=FEP_APPEAL_WINDOW[0]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("casemgmt", "0025_dashboard_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="appealwindow",
            name="line_of_business",
            field=models.CharField(
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
        migrations.AlterField(
            model_name="authorization",
            name="line_of_business",
            field=models.CharField(
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
        migrations.AlterField(
            model_name="authorizationvalidityrule",
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
                help_text="Blank matches any line of business.",
                max_length=30,
            ),
        ),
        migrations.AlterField(
            model_name="case",
            name="line_of_business",
            field=models.CharField(
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
        migrations.AlterField(
            model_name="deadlinerule",
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
        migrations.AlterField(
            model_name="duplicaterule",
            name="line_of_business",
            field=models.CharField(
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
        migrations.AlterField(
            model_name="goldcardprogramme",
            name="line_of_business",
            field=models.CharField(
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
        migrations.AlterField(
            model_name="membercoverage",
            name="line_of_business",
            field=models.CharField(
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
        migrations.RunPython(seed_fep_appeal_window, remove_fep_appeal_window),
    ]
