from __future__ import annotations

from typing import Any

from django.db import migrations

from casemgmt.kernel.db_triggers import install_frozen_version

FROZEN_COLUMNS = [
    "policy_id", "version_label", "coverage_position", "effective_start", "revised_date", "review_date",
    "statement", "history", "source_document", "source_sha256", "missing_fields", "content_sha256",
    "created_by_id", "created_at", "submitted_by_id", "submitted_at", "published_by_id", "published_at",
]

FACTS = [
    ("member_age", "Member age on the date of service", "integer", "years", True),
    ("diagnosis_codes", "Diagnosis codes on the request (ICD-10-CM)", "code_list", "", True),
    ("procedure_code", "The service line's procedure code", "text", "", True),
    ("line_of_business", "Line of business", "text", "", True),
    ("conservative_therapy_weeks", "Weeks of failed conservative therapy", "integer", "weeks", False),
    ("symptom_duration_months", "Duration of symptoms", "integer", "months", False),
    ("ligamentum_flavum_thickness_mm", "Ligamentum flavum thickness on imaging", "number", "mm", False),
    ("imaging_confirms_stenosis", "Imaging confirms spinal stenosis", "boolean", "", False),
    ("neurogenic_claudication", "Neurogenic claudication present", "boolean", "", False),
    ("prior_spine_surgery", "Prior surgery at the same level", "boolean", "", False),
    ("bmi", "Body mass index", "number", "kg/m2", False),
    ("current_smoker", "Current tobacco smoker", "boolean", "", False),
    ("oswestry_disability_index", "Oswestry Disability Index score", "number", "points", False),
]


def forwards(apps: Any, schema_editor: Any) -> None:
    install_frozen_version(
        schema_editor,
        table="policies_app_policyversion",
        frozen_columns=FROZEN_COLUMNS,
        child_tables=["policies_app_policycode", "policies_app_policyterm", "policies_app_criterion"],
    )
    apps.get_model("policies_app", "LibraryStamp").objects.get_or_create(pk=1, defaults={"value": 0})
    Fact = apps.get_model("policies_app", "FactDefinition")
    for key, label, value_type, unit, derived in FACTS:
        Fact.objects.get_or_create(
            key=key, defaults={"label": label, "value_type": value_type, "unit": unit, "derived": derived}
        )


class Migration(migrations.Migration):
    dependencies = [("policies_app", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
