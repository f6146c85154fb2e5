from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "casemgmt.cases"
    # The label the tables, migrations and permissions were created under.
    label = "casemgmt"
    verbose_name = "Prior authorization cases"
    default_auto_field = "django.db.models.BigAutoField"
