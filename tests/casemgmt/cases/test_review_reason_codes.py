"""The plan's review decision reason codes (X12 list 886): kept by managers in the admin, given
optionally on an adverse decision line, checked by decision_record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from casemgmt.cases.models import DecisionLine, ReviewReasonCode
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.fhir.codes import System
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.security.services import roles_sync_permissions
from policies_app.models import PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return factories.publish(factories.draft_version(), editor)


@pytest.fixture
def not_necessary() -> ReviewReasonCode:
    """A code the plan entered, as a manager does in the admin."""
    return ReviewReasonCode.objects.create(code="N1", display="Not medically necessary")


def case_id(client: User) -> int:
    dos = timezone.localdate() + timedelta(days=10)
    return factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos),
        ),
    ).pk


def decide(client: User, physician: User, version: PolicyVersion, *, code: str, outcome: str = "denied") -> None:
    decision_record(
        case_id=case_id(client),
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome=outcome, reason="Criteria not met.", reason_code=code),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[CitationInput(policy_version_id=version.pk, criterion="Criteria.")],
    )


def refusal(client: User, physician: User, version: PolicyVersion, **kwargs: str) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        decide(client, physician, version, **kwargs)
    return refused.value.errors


def test_a_code_is_x12_886_unless_the_plan_says_otherwise(not_necessary: ReviewReasonCode) -> None:
    assert not_necessary.system == System.REVIEW_DECISION_REASON == "https://codesystem.x12.org/external/886"


def test_an_adverse_line_records_the_code_given(integration_client, physician, version, not_necessary) -> None:
    decide(integration_client, physician, version, code="N1")
    line = DecisionLine.objects.get(service_line__sequence=1)
    assert line.reason_code == not_necessary


def test_a_code_is_required_of_no_one(integration_client, physician, version) -> None:
    decide(integration_client, physician, version, code="")
    assert DecisionLine.objects.get(service_line__sequence=1).reason_code is None


def test_an_unknown_code_is_refused_naming_the_line(integration_client, physician, version) -> None:
    errors = refusal(integration_client, physician, version, code="ZZ")
    assert list(errors) == ["lines[0].reason_code"]
    assert not DecisionLine.objects.exists()


def test_an_inactive_code_is_refused(integration_client, physician, version, not_necessary) -> None:
    ReviewReasonCode.objects.filter(pk=not_necessary.pk).update(active=False)
    errors = refusal(integration_client, physician, version, code="N1")
    assert "no longer in use" in errors["lines[0].reason_code"][0]


def test_a_code_on_an_approving_line_is_refused(integration_client, physician, version, not_necessary) -> None:
    errors = refusal(integration_client, physician, version, code="N1", outcome="approved")
    assert list(errors) == ["lines[0].reason_code"]


def test_a_code_a_decision_gave_cannot_be_deleted(integration_client, physician, version, not_necessary) -> None:
    decide(integration_client, physician, version, code="N1")
    with pytest.raises(ProtectedError):
        not_necessary.delete()


# --- the admin ------------------------------------------------------------------------------------


def staff(user: User) -> Client:
    roles_sync_permissions()
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(user)
    return browser


def test_a_manager_adds_a_code_in_the_admin(manager: User) -> None:
    response = staff(manager).post(
        "/admin/casemgmt/reviewreasoncode/add/",
        {
            "code": "N2",
            "display": "Experimental",
            "system": "https://codesystem.x12.org/external/886",
            "description": "",
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content
    assert ReviewReasonCode.objects.get(code="N2").display == "Experimental"


def test_a_code_a_decision_gave_keeps_its_code_and_wording(
    manager, integration_client, physician, version, not_necessary
) -> None:
    decide(integration_client, physician, version, code="N1")
    staff(manager).post(
        f"/admin/casemgmt/reviewreasoncode/{not_necessary.pk}/change/",
        {"code": "X9", "display": "Changed", "system": "urn:other", "description": "Use for MN denials.", "active": ""},
    )
    not_necessary.refresh_from_db()
    assert (not_necessary.code, not_necessary.display, not_necessary.active) == ("N1", "Not medically necessary", False)
    assert not_necessary.description == "Use for MN denials."


def test_codes_are_never_deleted_in_the_admin(manager: User, not_necessary: ReviewReasonCode) -> None:
    response = staff(manager).post(f"/admin/casemgmt/reviewreasoncode/{not_necessary.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert ReviewReasonCode.objects.filter(pk=not_necessary.pk).exists()


def test_a_reviewer_cannot_keep_the_codes(nurse: User) -> None:
    assert staff(nurse).get("/admin/casemgmt/reviewreasoncode/").status_code in (302, 403)
