from __future__ import annotations

from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies_app"
    verbose_name = "Medical policies"
    default_auto_field = "django.db.models.BigAutoField"
