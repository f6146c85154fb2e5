from __future__ import annotations

from django.apps import AppConfig


class SecurityConfig(AppConfig):
    name = "casemgmt.security"
    label = "security"
    verbose_name = "Security"
