"""What intake stores: the case, its lines, flags, events and audit row, written together or not at all.

Intake takes one path on every database (the ORM in one transaction), so these run on SQLite
and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import Case, CaseEvent, DeadlineRule, Flag, ServiceLine, WebhookDelivery
from casemgmt.cases.services import intake
from casemgmt.cases.services.intake import CaseInput, LineInput, ProviderInput, case_submit
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.kernel.errors import ConflictError, PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(editor: User) -> None:
    factories.two_policy_library(editor)


def _input(external_id: str, **overrides: object) -> CaseInput:
    dos = timezone.localdate() + timedelta(days=10)
    values: dict[str, object] = {
        "external_id": external_id,
        "service_lines": tuple(
            LineInput(code_system="CPT", code=code, units=units, date_of_service=dos, modifiers=mods)
            for code, units, mods in [("62330", 1, ()), ("62331", 2, ("59",)), ("72148", 1, ())]
        ),
        "clinical_facts": {"conservative_therapy_weeks": 6},
    }
    values.update(overrides)
    return factories.case_input(**values)


def _counts() -> tuple[int, ...]:
    return (
        Case.objects.count(),
        ServiceLine.objects.count(),
        Flag.objects.count(),
        CaseEvent.objects.count(),
        AuditEvent.objects.filter(object_type="case", action="create").count(),
    )


# --- what is stored ---------------------------------------------------------------------------


def test_the_case_row_holds_the_request_its_deadline_and_rule(integration_client, library):
    case = case_submit(
        client=integration_client,
        data=_input("STORE-1", servicing_provider=ProviderInput(npi=factories.OTHER_VALID_NPI, name="Imaging")),
    )

    stored = Case.objects.get(pk=case.pk)
    assert stored.case_number.startswith("PA-") and len(stored.case_number) == 11
    assert (stored.submitted_by_id, stored.external_id, stored.status) == (integration_client.pk, "STORE-1", "received")
    assert (stored.urgency, stored.line_of_business, stored.review_type) == ("standard", "commercial", "prospective")
    assert (stored.member_id, stored.member_first_name, stored.member_last_name) == ("M123", "Ada", "Case")
    assert (stored.requesting_provider_npi, stored.requesting_provider_name) == (factories.VALID_NPI, "Spine Clinic")
    assert (stored.servicing_provider_npi, stored.servicing_provider_name) == (factories.OTHER_VALID_NPI, "Imaging")
    assert (stored.diagnosis_codes, stored.clinical_facts) == (["M48.062"], {"conservative_therapy_weeks": 6})
    rule = DeadlineRule.objects.get(review_type="prospective", urgency="standard", line_of_business="")
    assert stored.deadline_rule_id == rule.pk
    assert stored.due_at - stored.received_at == timedelta(hours=rule.hours)
    assert (stored.decided_at, stored.assignee_id, stored.row_version) == (None, None, 1)


def test_lines_are_stored_in_order_with_codes_and_modifiers(integration_client, library):
    case = case_submit(client=integration_client, data=_input("STORE-2"))

    lines = ServiceLine.objects.filter(case=case).order_by("sequence")
    assert [(x.sequence, x.code_system, x.code, x.modifiers, x.units) for x in lines] == [
        (1, "CPT", "62330", [], 1),
        (2, "CPT", "62331", ["59"], 2),
        (3, "CPT", "72148", [], 1),
    ]
    assert {x.date_of_service for x in lines} == {timezone.localdate() + timedelta(days=10)}


def test_flags_are_stored_on_their_lines_with_the_citation(integration_client, library):
    case = case_submit(client=integration_client, data=_input("STORE-3"))

    flags = Flag.objects.filter(case=case).select_related("service_line").order_by("id")
    assert [(f.service_line.sequence, f.kind, f.severity) for f in flags] == [
        (1, "investigational", "critical"),
        (2, "criteria_not_met", "critical"),
    ]
    first, second = flags
    versions = {v.policy.number: v.pk for v in PolicyVersion.objects.select_related("policy")}
    assert (first.policy_version_id, second.policy_version_id) == (versions["TP.01"], versions["TP.02"])
    assert first.citation is not None and first.citation["policy_number"] == "TP.01"
    assert first.details == {"coverage_position": "investigational"}
    assert second.details["failed"] == ["At least 12 weeks of conservative therapy"]
    assert {(f.created_at, f.superseded_at) for f in flags} == {(case.received_at, None)}


def test_received_and_flagged_events_are_stored_in_order(integration_client, library):
    case = case_submit(client=integration_client, data=_input("STORE-4"))

    events = list(CaseEvent.objects.filter(case=case).order_by("id"))
    assert [(e.kind, e.actor_id, e.at) for e in events] == [
        ("received", integration_client.pk, case.received_at),
        ("flagged", None, case.received_at),
    ]
    assert events[0].detail == {"due_at": case.due_at.isoformat(), "rule": str(case.deadline_rule)}
    assert events[1].detail == {"flags": 2}


def test_the_audit_row_records_the_new_case_and_its_lines(integration_client, library):
    case = case_submit(client=integration_client, data=_input("STORE-5"))

    audit = AuditEvent.objects.get(case_number=case.case_number)
    assert (audit.action, audit.object_type, audit.object_id) == ("create", "case", case.case_number)
    assert (audit.actor_id, audit.actor_username, audit.roles) == (
        integration_client.pk,
        "ehr.client",
        "integration_client",
    )
    dos = (timezone.localdate() + timedelta(days=10)).isoformat()
    assert audit.changes == {
        "status": {"old": None, "new": "received"},
        "external_id": {"old": None, "new": "STORE-5"},
        "urgency": {"old": None, "new": "standard"},
        "line_of_business": {"old": None, "new": "commercial"},
        "plan_id": {"old": None, "new": ""},
        "review_type": {"old": None, "new": "prospective"},
        "member_id": {"old": None, "new": "M123"},
        "member_first_name": {"old": None, "new": "Ada"},
        "member_last_name": {"old": None, "new": "Case"},
        "member_birth_date": {"old": None, "new": "1960-05-01"},
        "requesting_provider_npi": {"old": None, "new": factories.VALID_NPI},
        "servicing_provider_npi": {"old": None, "new": ""},
        "diagnosis_codes": {"old": None, "new": ["M48.062"]},
        "clinical_facts": {"old": None, "new": {"conservative_therapy_weeks": 6}},
        "clinical_notes": {"old": None, "new": ""},
        "received_at": {"old": None, "new": case.received_at.isoformat()},
        "due_at": {"old": None, "new": case.due_at.isoformat()},
        "service_lines": {
            "old": None,
            "new": [f"CPT 62330 x1 on {dos}", f"CPT 62331 x2 on {dos}", f"CPT 72148 x1 on {dos}"],
        },
    }


def test_values_come_back_from_the_database_as_they_were_in_memory(integration_client, library):
    case = case_submit(client=integration_client, data=_input("STORE-6"))

    stored = Case.objects.get(pk=case.pk)
    # Timestamps to the microsecond, JSON and dates as written.
    assert (stored.received_at, stored.due_at) == (case.received_at, case.due_at)
    assert stored.clinical_facts == case.clinical_facts and stored.diagnosis_codes == case.diagnosis_codes
    assert stored.member_birth_date == case.member_birth_date
    line = ServiceLine.objects.get(case=case, sequence=2)
    assert (line.modifiers, line.units) == (["59"], 2)
    audit = AuditEvent.objects.get(case_number=case.case_number, action="create")
    assert audit.changes["received_at"]["new"] == case.received_at.isoformat()


# --- what the caller gets back ----------------------------------------------------------------


def test_the_case_comes_back_with_its_saved_lines_and_current_flags(
    integration_client, library, django_assert_num_queries
):
    case = case_submit(client=integration_client, data=_input("BACK-1"))

    stored = {line.sequence: line.pk for line in ServiceLine.objects.filter(case=case)}
    with django_assert_num_queries(0):
        lines = list(case.lines.all())
        flags = list(case.current_flags)
        flag_lines = [flag.service_line.sequence for flag in flags]
    assert case.pk == Case.objects.get(case_number=case.case_number).pk
    assert {line.sequence: line.pk for line in lines} == stored
    assert all(line.case_id == case.pk for line in lines)
    assert flag_lines == [1, 2]
    for flag in flags:
        assert (
            Flag.objects.get(pk=flag.pk).service_line_id == flag.service_line_id == stored[flag.service_line.sequence]
        )


# --- refusals and retries ---------------------------------------------------------------------


def test_a_second_case_with_the_same_external_id_is_a_conflict_naming_the_first(integration_client, library):
    first = case_submit(client=integration_client, data=_input("DUP-1"))
    counts = _counts()

    with pytest.raises(ConflictError) as refused:
        case_submit(client=integration_client, data=_input("DUP-1"))

    assert refused.value.field == "external_id"
    assert refused.value.extra == {"case_number": first.case_number}
    assert _counts() == counts


def test_a_refused_write_leaves_the_callers_transaction_usable(integration_client, library):
    case_submit(client=integration_client, data=_input("DUP-2"))
    counts = _counts()

    with transaction.atomic():
        with pytest.raises(ConflictError):
            case_submit(client=integration_client, data=_input("DUP-2"))
        assert Case.objects.filter(external_id="DUP-2").count() == 1

    assert _counts() == counts


def test_a_taken_case_number_is_retried(integration_client, library, monkeypatch):
    first = case_submit(client=integration_client, data=_input("NUM-1"))
    numbers = iter([first.case_number, "PA-FRESH001"])
    monkeypatch.setattr(intake, "new_case_number", lambda: next(numbers))

    second = case_submit(client=integration_client, data=_input("NUM-2"))

    assert second.case_number == "PA-FRESH001"
    assert Case.objects.get(case_number="PA-FRESH001").lines.count() == 3
    assert AuditEvent.objects.filter(case_number="PA-FRESH001", action="create").count() == 1


# --- every submission reads what it depends on afresh ------------------------------------------


def test_a_deadline_rule_changed_between_submissions_governs_the_next_case(integration_client):
    factories.case(integration_client, external_id="EHR-1")
    DeadlineRule.objects.filter(review_type="prospective", urgency="standard", line_of_business="").update(hours=100)

    case = factories.case(integration_client, external_id="EHR-2")

    assert case.due_at - case.received_at == timedelta(hours=100)
    assert Case.objects.get(pk=case.pk).deadline_rule.hours == 100


def test_a_more_specific_rule_added_between_submissions_governs_the_next_case(integration_client):
    factories.case(integration_client, external_id="EHR-1")
    rule = DeadlineRule.objects.create(
        review_type="prospective", urgency="standard", line_of_business="commercial", hours=50, source="plan contract"
    )

    case = factories.case(integration_client, external_id="EHR-2")

    assert case.deadline_rule_id == rule.pk
    assert case.due_at - case.received_at == timedelta(hours=50)


def test_a_policy_published_between_submissions_flags_the_next_case(integration_client, editor):
    factories.case(integration_client, external_id="EHR-1")
    factories.publish(factories.draft_version(), editor)

    case = factories.case(integration_client, external_id="EHR-2")

    version = PolicyVersion.objects.get()
    # (It repeats the first request too: its duplicate flag is beside the policy's.)
    stored = Case.objects.get(pk=case.pk).flags.exclude(kind="duplicate_request").get(service_line__sequence=1)
    assert stored.policy_version_id == version.pk
    assert stored.kind == "investigational"


def test_a_role_removed_between_submissions_refuses_the_next(integration_client):
    factories.case(integration_client, external_id="EHR-1")
    integration_client.groups.remove(Group.objects.get(name=Role.INTEGRATION_CLIENT))
    # A new request carries a new user object; the roles held on the old one are gone with it.
    client = User.objects.get(pk=integration_client.pk)

    with pytest.raises(PermissionDeniedError):
        factories.case(client, external_id="EHR-2")

    assert Case.objects.filter(external_id="EHR-2").count() == 0


def test_a_role_granted_after_a_refusal_is_honoured_at_once(outsider):
    with pytest.raises(PermissionDeniedError):
        factories.case(outsider, external_id="EHR-1")
    outsider.groups.add(Group.objects.get(name=Role.INTEGRATION_CLIENT))
    client = User.objects.get(pk=outsider.pk)

    case = factories.case(client, external_id="EHR-1")

    assert case.submitted_by_id == outsider.pk


def test_a_webhook_registered_between_submissions_is_notified_of_the_next_case(integration_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # no DNS here: the address is not checked
    factories.case(integration_client, external_id="EHR-1")
    webhook_subscribe(client=integration_client, url="https://hooks.example.org/pa")

    case = factories.case(integration_client, external_id="EHR-2")

    assert WebhookDelivery.objects.filter(event__case=case).exists()
