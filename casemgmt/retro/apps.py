from __future__ import annotations

from django.apps import AppConfig


class RetroConfig(AppConfig):
    name = "casemgmt.retro"
    label = "retro"
    verbose_name = "Retrospective review"
    default_auto_field = "django.db.models.BigAutoField"
