"""The library stamp's write: every publish or retire, of a policy version or a requirement rule, moves it."""

from __future__ import annotations

import uuid

from django.db.models import F
from django.utils import timezone

from policies_app.models import LibraryStamp


def library_stamp_bump() -> None:
    """Tell every process's engine and requirement indexes that the published library changed."""
    token = uuid.uuid4().hex
    updated = LibraryStamp.objects.filter(pk=1).update(value=F("value") + 1, token=token, changed_at=timezone.now())
    if not updated:
        LibraryStamp.objects.update_or_create(pk=1, defaults={"value": 1, "token": token})
