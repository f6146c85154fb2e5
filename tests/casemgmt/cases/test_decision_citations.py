"""Citations belong to decision lines and are checked against the line they support (issue 16,
section 4; ../shared/DOMAIN.md "Decisions": a citation names the policy version the line rests on)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from casemgmt.cases.models import Case, Citation, Decision
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.security.services import api_token_create
from policies_app.models import PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    """TP.01 version 2024-01, in effect from 2024-01-01, open-ended; commercial and exchange."""
    return factories.publish(factories.draft_version(), editor)


@pytest.fixture
def ended_version(editor: User) -> PolicyVersion:
    """A version of another policy that ended on 2024-12-31."""
    draft = factories.draft_version(
        factories.policy(number="TP.03", title="Ended policy"),
        version_label="2023-01",
        effective_start=date(2023, 1, 1),
        effective_end=date(2024, 12, 31),
    )
    return factories.publish(draft, editor)


def two_line_case(client: User) -> int:
    dos = timezone.localdate() + timedelta(days=10)
    case = factories.case(
        client,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos),
        ),
    )
    return case.pk


def test_a_line_citation_is_recorded_on_that_line(integration_client, physician, version):
    """A citation supports the line it was given for, not the decision as a whole."""
    case_id = two_line_case(integration_client)
    decision = decision_record(
        case_id=case_id,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=1,
                outcome="denied",
                reason="Investigational per policy.",
                citations=(CitationInput(policy_version_id=version.pk, criterion="Investigational."),),
            ),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[],
    )
    (citation,) = Citation.objects.filter(decision=decision)
    assert citation.decision_line is not None
    assert citation.decision_line.service_line.sequence == 1
    assert citation.criterion == "Investigational."


def test_decision_citations_apply_to_every_adverse_line_and_not_to_an_approved_one(
    integration_client, physician, version
):
    """The decision-level list stays accepted for existing clients, applying to every adverse line."""
    case_id = two_line_case(integration_client)
    decision = decision_record(
        case_id=case_id,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="denied", reason="Investigational."),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    cited_lines = [c.decision_line.service_line.sequence for c in Citation.objects.filter(decision=decision)]
    assert cited_lines == [1]


def test_decision_citations_apply_to_every_line_when_none_is_adverse(integration_client, physician, version):
    """An approval may rest on a policy too: with no adverse line, the decision's citations
    support every line."""
    case_id = two_line_case(integration_client)
    decision = decision_record(
        case_id=case_id,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    assert sorted(c.decision_line.service_line.sequence for c in decision.citations.all()) == [1, 2]


def test_a_version_not_in_effect_on_the_date_of_service_is_refused_naming_line_and_version(
    integration_client, physician, ended_version
):
    """A decision citing the wrong version is a real harm: the version must have been in effect
    on the line's date of service (issue 16, section 4)."""
    case_id = two_line_case(integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case_id,
            user=physician,
            lines=[
                DecisionLineInput(
                    service_line=1,
                    outcome="denied",
                    reason="Not covered.",
                    citations=(CitationInput(policy_version_id=ended_version.pk),),
                ),
                DecisionLineInput(service_line=2, outcome="approved"),
            ],
            citations=[],
        )
    (message,) = refused.value.errors["lines[0].citations[0].policy_version_id"]
    assert "TP.03 version 2023-01" in message
    assert "line 1" in message and "was not in effect" in message
    assert not Decision.objects.exists()


def test_a_version_for_another_line_of_business_is_refused(integration_client, physician, version):
    """A commercial policy cannot support a Medicaid line (issue 16, section 4)."""
    case = factories.case(integration_client, line_of_business="medicaid")
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case.pk,
            user=physician,
            lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Investigational.")],
            citations=[CitationInput(policy_version_id=version.pk)],
        )
    (message,) = refused.value.errors["citations[0].policy_version_id"]
    assert "does not apply to Medicaid" in message
    assert "Commercial, Exchange (ACA marketplace)" in message
    assert not Decision.objects.exists()


def test_an_adverse_line_without_a_citation_is_refused_when_another_line_has_its_own(
    integration_client, physician, version
):
    """Each adverse line needs a citation (NCQA UM 7: the criterion by name and source)."""
    case_id = two_line_case(integration_client)
    with pytest.raises(ValidationFailed) as refused:
        decision_record(
            case_id=case_id,
            user=physician,
            lines=[
                DecisionLineInput(
                    service_line=1,
                    outcome="denied",
                    reason="Investigational.",
                    citations=(CitationInput(policy_version_id=version.pk),),
                ),
                DecisionLineInput(service_line=2, outcome="denied", reason="Not necessary."),
            ],
            citations=[],
        )
    assert "lines[1].citations" in refused.value.errors


def test_the_api_takes_citations_per_line_and_shows_them_under_each_line(integration_client, physician, version):
    """`lines[i].citations` in the v1 API (issue 16, section 4)."""
    case_id = two_line_case(integration_client)
    case_number = Case.objects.get(pk=case_id).case_number
    _, token = api_token_create(user=physician, label="t")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.post(
        f"/api/v1/cases/{case_number}/decisions",
        {
            "lines": [
                {
                    "service_line": 1,
                    "outcome": "denied",
                    "reason": "Investigational.",
                    "citations": [{"policy_version_id": version.pk, "criterion": "Investigational."}],
                },
                {"service_line": 2, "outcome": "approved"},
            ]
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    first, second = body["lines"]
    assert [c["policy_version_id"] for c in first["citations"]] == [version.pk]
    assert first["citations"][0]["service_line"] == 1
    assert second["citations"] == []
