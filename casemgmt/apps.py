from __future__ import annotations

from django.apps import AppConfig


class CaseMgmtConfig(AppConfig):
    name = "casemgmt"
    verbose_name = "Prior authorization cases"
    default_auto_field = "django.db.models.BigAutoField"
