"""`db_rows.unsaved` builds the instance `Model(**values)` builds, by the cheaper positional path."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, ServiceLine
from casemgmt.kernel.db_rows import unsaved


def _values(obj: Any) -> dict[str, Any]:
    return {k: v for k, v in obj.__dict__.items() if k != "_state"}


def _case_values(client: User) -> dict[str, Any]:
    now = timezone.now()
    return {
        "case_number": "PA-TESTTEST",
        "submitted_by": client,
        "external_id": "EHR-1",
        "urgency": "standard",
        "line_of_business": "commercial",
        "member_id": "M1",
        "member_birth_date": date(1960, 1, 2),
        "diagnosis_codes": ["M48.062"],
        "received_at": now,
        "due_at": now + timedelta(hours=72),
    }


@pytest.mark.django_db
def test_an_unsaved_case_holds_what_the_keyword_constructor_gives_it(integration_client: User) -> None:
    values = _case_values(integration_client)
    built = unsaved(Case, **values)
    expected = Case(**values)
    # Defaults that are fresh objects (lists, dicts) compare equal, not identical.
    assert _values(built) == _values(expected)
    assert built._state.adding and built._state.db is None


@pytest.mark.django_db
def test_a_related_object_given_by_name_is_stored_as_its_key_and_cached(
    integration_client: User, django_assert_num_queries: Any
) -> None:
    case = unsaved(Case, **_case_values(integration_client))
    with django_assert_num_queries(0):
        assert case.submitted_by is integration_client
    assert case.submitted_by_id == integration_client.pk
    line = unsaved(ServiceLine, case=case, sequence=1, code_system="CPT", code="62330", units=1)
    assert line.case is case and line.case_id is None  # the case has no key yet


def test_a_related_key_given_by_attribute_is_stored_as_given() -> None:
    event = unsaved(CaseEvent, case_id=7, kind=CaseEventKind.FLAGGED, actor=None, detail={})
    assert event.case_id == 7
    assert event.actor_id is None and event.actor is None


def test_a_name_that_is_not_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="'colour'"):
        unsaved(ServiceLine, sequence=1, colour="red")


def test_a_related_object_of_another_model_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape('"ServiceLine.case" must be a "Case" instance')):
        unsaved(ServiceLine, case=User(username="x"), sequence=1)
