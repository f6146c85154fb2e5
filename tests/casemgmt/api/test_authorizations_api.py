"""The authorizations API: the claims question, one authorization, extension requests.

Issue 16, section 1; ../shared/DOMAIN.md, "After the decision" ("Claims systems ask 'is there a
valid authorization for this member, service and date?'").
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.cases.models import Authorization, AuthorizationStatus, Case, LineOutcome, ReviewType
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput, MemberInput
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.kernel.roles import Role
from casemgmt.security.services import api_token_create
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

UNITS = 4


@pytest.fixture
def claims_system(db: None) -> User:
    return factories.user("claims.system", Role.CLAIMS_SYSTEM)


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return factories.publish(
        factories.draft_version(
            factories.policy(number="AA.01", lines_of_business=list(LineOfBusiness.values)),
            codes=[("CPT", "62330", "")],
        ),
        editor,
    )


def api(user: User) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_token_create(user=user)[1]}")
    return client


def approved(
    client: User, physician: User, *, member_id: str = "M123", dos: date | None = None, code: str = "62330"
) -> Authorization:
    dos = dos or timezone.localdate() + timedelta(days=10)
    review_type = ReviewType.RETROSPECTIVE if dos < timezone.localdate() else ReviewType.PROSPECTIVE
    case = factories.case(
        client,
        member=MemberInput(member_id=member_id, first_name="Ada", last_name="Case", birth_date=date(1960, 5, 1)),
        service_lines=(LineInput(code_system="CPT", code=code, units=UNITS, date_of_service=dos),),
        review_type=review_type,
    )
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
        citations=[],
        rationale="Meets the policy.",
    )
    return Authorization.objects.get(case=case)


def lookup_path(member_id: str = "M123", code: str = "62330", dos: date | None = None) -> str:
    dos = dos or timezone.localdate() + timedelta(days=10)
    return f"/api/v1/authorizations?member_id={member_id}&code={code}&date_of_service={dos.isoformat()}"


@pytest.fixture
def authorization(integration_client, physician) -> Authorization:
    return approved(integration_client, physician)


# --- the claims question -----------------------------------------------------------------------


def test_a_client_finds_its_authorization_for_the_member_service_and_date(integration_client, authorization):
    """Issue 16 section 1: "is there a valid authorization for this member, service and date?"."""
    response = api(integration_client).get(lookup_path())
    assert response.status_code == 200
    [found] = response.json()
    assert found["authorization_number"] == authorization.authorization_number
    assert found["status"] == "active"
    assert (found["member_id"], found["code_system"], found["code"]) == ("M123", "CPT", "62330")
    assert found["approved_units"] == UNITS
    assert found["case_number"] == authorization.case.case_number
    assert found["service_line"] == 1
    assert found["decision"] == authorization.decision_id
    assert found["requesting_provider"] == {"npi": factories.VALID_NPI, "name": "Spine Clinic"}
    assert (found["supersedes"], found["superseded_by"]) == (None, None)


def test_a_date_outside_the_period_finds_nothing(integration_client, authorization):
    """Issue 16 section 1: valid for a period (valid_from to valid_to)."""
    after = authorization.valid_to + timedelta(days=1)
    before = authorization.valid_from - timedelta(days=1)
    for dos in (before, after):
        assert api(integration_client).get(lookup_path(dos=dos)).json() == []


def test_another_client_finds_nothing(other_client, authorization):
    """Issue 16 section 1: integration clients see only their own."""
    response = api(other_client).get(lookup_path())
    assert (response.status_code, response.json()) == (200, [])


def test_the_claims_system_finds_any_clients_authorization(claims_system, integration_client, physician):
    """Issue 16 section 1: the claims system may look up any authorization."""
    mine = approved(integration_client, physician)
    theirs = approved(factories.user("third.portal", Role.INTEGRATION_CLIENT), physician, member_id="M123")
    found = api(claims_system).get(lookup_path()).json()
    assert {row["authorization_number"] for row in found} == {mine.authorization_number, theirs.authorization_number}


def test_every_lookup_is_audited_with_the_member_and_what_it_showed(claims_system, authorization):
    """Issue 16 section 1: every claims-system lookup is audited (HIPAA 164.312(b))."""
    api(claims_system).get(lookup_path())
    api(claims_system).get(lookup_path(member_id="NOBODY"))
    rows = list(
        AuditEvent.objects.filter(object_type=AuditObject.AUTHORIZATION, action=AuditAction.LIST).order_by("id")
    )
    assert [row.object_ids for row in rows] == [authorization.authorization_number, ""]
    assert [row.detail["member_id"] for row in rows] == ["M123", "NOBODY"]
    assert all(row.actor == claims_system for row in rows)


def test_the_claims_system_may_not_ask_for_an_extension(claims_system, authorization):
    """Issue 16 section 1: the claims system looks up "read-only"."""
    response = api(claims_system).post(
        f"/api/v1/authorizations/{authorization.authorization_number}/extensions",
        {"units": 8, "reason": "More sessions.", "urgency": "standard"},
        format="json",
    )
    assert response.status_code == 403
    assert not Case.objects.filter(review_type=ReviewType.EXTENSION).exists()


@pytest.mark.parametrize("persona", ["nurse", "outsider", "auditor"])
def test_reviewers_and_accounts_without_the_role_may_not_ask_the_claims_question(request, authorization, persona):
    """casemgmt/security/access_matrix.py (api_authorizations): claims systems and integration clients only."""
    response = api(request.getfixturevalue(persona)).get(lookup_path())
    assert response.status_code == 403
    assert b"M123" not in response.content


def test_an_authorization_past_its_end_shows_as_expired(integration_client, physician):
    """Issue 16 section 1: status expired once the period has passed; a service performed while it was
    valid is still covered."""
    old = approved(integration_client, physician, dos=timezone.localdate() - timedelta(days=100))
    [found] = api(integration_client).get(lookup_path(dos=old.valid_from)).json()
    assert found["status"] == AuthorizationStatus.EXPIRED


def test_a_voided_authorization_covers_nothing(integration_client, physician, version, authorization):
    """Issue 16 section 1: a later decision voids it; the claims question no longer finds it."""
    case_reopen(case_id=authorization.case_id, user=physician, reason="New evidence: the policy excludes it.")
    decision_record(
        case_id=authorization.case_id,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="Investigational.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    assert api(integration_client).get(lookup_path()).json() == []
    detail = api(integration_client).get(f"/api/v1/authorizations/{authorization.authorization_number}").json()
    assert detail["status"] == "voided"


@pytest.mark.parametrize("missing", ["member_id", "code", "date_of_service"])
def test_each_parameter_is_required_and_named_when_missing(integration_client, missing):
    """The brief: all three parameters are required (400 naming the missing one)."""
    params = {"member_id": "M123", "code": "62330", "date_of_service": "2026-12-01"}
    del params[missing]
    response = api(integration_client).get("/api/v1/authorizations", params)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [missing]


def test_a_malformed_date_and_code_are_refused_by_field(integration_client):
    """The project's brief: validation errors are 400 with field paths."""
    response = api(integration_client).get(
        "/api/v1/authorizations", {"member_id": "M123", "code": "6-2", "date_of_service": "soon"}
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"code", "date_of_service"}


def test_the_lookup_takes_as_many_queries_for_one_row_as_for_many(
    claims_system, integration_client, physician, version
):
    """Issue 16, Performance: the query count is constant whatever the number of rows."""
    api_client = api(claims_system)
    approved(integration_client, physician)
    api_client.get(lookup_path())  # the roles and the token, read once per request like any other
    with CaptureQueriesContext(connection) as one:
        assert len(api_client.get(lookup_path()).json()) == 1
    for i in range(4):
        superseded = approved(factories.user(f"portal.{i}", Role.INTEGRATION_CLIENT), physician)
        case_reopen(case_id=superseded.case_id, user=physician, reason="Clerical error in the units.")
        decision_record(
            case_id=superseded.case_id,
            user=physician,
            lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
            citations=[],
        )
    with CaptureQueriesContext(connection) as many:
        assert len(api_client.get(lookup_path()).json()) == 5
    assert len(many) == len(one)


# --- one authorization ---------------------------------------------------------------------------


def test_a_client_reads_its_authorization(integration_client, authorization):
    """Issue 16 section 1: `GET /api/v1/authorizations/<authorization_number>` shows one."""
    response = api(integration_client).get(f"/api/v1/authorizations/{authorization.authorization_number}")
    assert response.status_code == 200
    body = response.json()
    assert body["authorization_number"] == authorization.authorization_number
    assert body["valid_from"] == authorization.valid_from.isoformat()
    assert body["validity_basis"] == authorization.validity_basis
    assert AuditEvent.objects.filter(
        action=AuditAction.VIEW,
        object_type=AuditObject.AUTHORIZATION,
        object_id=authorization.authorization_number,
        case_number=authorization.case.case_number,
    ).exists()


def test_another_clients_authorization_is_the_same_404_as_none(other_client, authorization):
    """Issue 16 section 1: clients see only their own; not yours and not existing answer alike."""
    theirs = api(other_client).get(f"/api/v1/authorizations/{authorization.authorization_number}")
    nothing = api(other_client).get("/api/v1/authorizations/AUTH-0000000000")
    assert theirs.status_code == nothing.status_code == 404
    assert theirs.json() == nothing.json()


def test_the_superseding_authorization_is_named_both_ways(integration_client, nurse, authorization):
    """Issue 16 section 1: a later decision supersedes the authorization; each names the other."""
    client = api(integration_client)
    created = client.post(
        f"/api/v1/authorizations/{authorization.authorization_number}/extensions",
        {"units": 8, "reason": "More sessions.", "urgency": "standard"},
        format="json",
    ).json()
    extension = Case.objects.get(case_number=created["case_number"])
    decision_record(
        case_id=extension.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
        citations=[],
    )
    new = Authorization.objects.get(case=extension)
    old_body = client.get(f"/api/v1/authorizations/{authorization.authorization_number}").json()
    new_body = client.get(f"/api/v1/authorizations/{new.authorization_number}").json()
    assert (old_body["status"], old_body["superseded_by"]) == ("superseded", new.authorization_number)
    assert (new_body["supersedes"], new_body["approved_units"]) == (authorization.authorization_number, 8)


# --- extensions ------------------------------------------------------------------------------------


def extensions_path(authorization: Authorization) -> str:
    return f"/api/v1/authorizations/{authorization.authorization_number}/extensions"


def test_an_extension_request_answers_201_with_the_new_case(integration_client, authorization):
    """Issue 16 section 1: the POST opens a linked case (review type extension)."""
    response = api(integration_client).post(
        extensions_path(authorization),
        {"units": 8, "reason": "Four more sessions.", "urgency": "expedited"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["review_type"], body["urgency"]) == ("extension", "expedited")
    assert body["extension_of"] == authorization.authorization_number
    assert body["service_lines"][0]["units"] == 8


def test_an_extension_request_is_idempotent(integration_client, authorization):
    """The brief: idempotent like the other POSTs (the same Idempotency-Key opens one case)."""
    client = api(integration_client)
    body: dict[str, Any] = {"valid_to": (authorization.valid_to + timedelta(days=30)).isoformat()}
    body |= {"reason": "A later surgery date.", "urgency": "standard"}
    first = client.post(extensions_path(authorization), body, format="json", HTTP_IDEMPOTENCY_KEY="ext-1")
    again = client.post(extensions_path(authorization), body, format="json", HTTP_IDEMPOTENCY_KEY="ext-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Case.objects.filter(extension_of=authorization).count() == 1


def test_a_second_open_extension_is_409(integration_client, authorization):
    """The brief: a second open extension of the same authorization is refused (409)."""
    client = api(integration_client)
    body = {"units": 8, "reason": "Four more sessions.", "urgency": "standard"}
    assert client.post(extensions_path(authorization), body, format="json").status_code == 201
    assert client.post(extensions_path(authorization), body, format="json").status_code == 409


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"reason": "More.", "urgency": "standard"}, {"units", "valid_to"}),
        ({"units": 2, "reason": "More.", "urgency": "standard"}, {"units"}),
        ({"units": 8, "reason": "More.", "urgency": "soon"}, {"urgency"}),
        ({"units": 8, "urgency": "standard"}, {"reason"}),
        ({"units": 8, "reason": "More.", "urgency": "standard", "extra": 1}, {"extra"}),
    ],
    ids=["neither", "fewer units", "bad urgency", "no reason", "unknown field"],
)
def test_a_bad_extension_request_is_400_by_field(integration_client, authorization, body, fields):
    """The project's brief: validation errors are 400 with field paths, never 500."""
    response = api(integration_client).post(extensions_path(authorization), body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == fields


def test_another_client_cannot_extend_what_it_cannot_see(other_client, authorization):
    """Issue 16 section 1: integration clients see only their own (404, as for one that does not exist)."""
    response = api(other_client).post(
        extensions_path(authorization), {"units": 8, "reason": "More.", "urgency": "standard"}, format="json"
    )
    assert response.status_code == 404
