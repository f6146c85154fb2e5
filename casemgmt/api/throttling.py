"""Per-client rate limits. Counted in the configured cache (Redis when CACHE_URL is set, so
every web worker shares one count)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class ClientRateThrottle(UserRateThrottle):
    scope = "client"

    def get_rate(self) -> str:
        return str(settings.API_RATE_LIMIT)


class AnonymousRateThrottle(AnonRateThrottle):
    def get_rate(self) -> str:
        return str(settings.API_ANON_RATE_LIMIT)
