"""Authorizations: issued by approving decisions, valid for a period set by rules, superseded or
voided by later decisions, never edited, expired when their period ends.

../shared/DOMAIN.md, "After the decision" (Authorization); issue 16, section 1.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.utils import timezone

from casemgmt.audit.models import AuditEvent, AuditObject
from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    AuthorizationValidityRule,
    Case,
    CaseEventKind,
    LineOutcome,
    ReviewType,
)
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.authorizations import DEFAULT_BASIS
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.tasks import authorizations_expire_task
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

REASON = "The procedure is investigational under the plan's policy."
UNITS = 4


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    """A published policy for CPT 62330 that applies to every line of business."""
    return factories.publish(
        factories.draft_version(
            factories.policy(number="AU.01", lines_of_business=list(LineOfBusiness.values)),
            codes=[("CPT", "62330", "")],
        ),
        editor,
    )


@pytest.fixture
def second_physician(db: None) -> User:
    return factories.user("pat.second", Role.PHYSICIAN)


def submitted(client: User, *, dos: date | None = None, line_of_business: str = LineOfBusiness.COMMERCIAL) -> Case:
    dos = dos or timezone.localdate() + timedelta(days=10)
    review_type = ReviewType.RETROSPECTIVE if dos < timezone.localdate() else ReviewType.PROSPECTIVE
    line = LineInput(code_system="CPT", code="62330", units=UNITS, date_of_service=dos)
    return factories.case(client, service_lines=(line,), line_of_business=line_of_business, review_type=review_type)


def decide(case: Case, user: User, version: PolicyVersion, outcome: str, approved_units: int | None = None) -> None:
    adverse = outcome not in (LineOutcome.APPROVED, LineOutcome.OVERTURNED)
    decision_record(
        case_id=case.pk,
        user=user,
        lines=[
            DecisionLineInput(
                service_line=1,
                outcome=outcome,
                reason=REASON if adverse else "",
                approved_units=approved_units,
            )
        ],
        citations=[CitationInput(policy_version_id=version.pk, criterion="Investigational.")],
        rationale="Per policy.",
    )


def active_of(case: Case) -> Authorization:
    return Authorization.objects.get(origin_line=case.lines.get(), status=AuthorizationStatus.ACTIVE)


# --- issuing ----------------------------------------------------------------------------------


def test_an_approved_line_issues_an_authorization_for_the_service(integration_client, physician, version):
    """Issue 16 section 1: every approved (A1) line yields an authorization with a number, the member,
    the providers, the service, the units and the decision it came from."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = active_of(case)
    line = case.lines.get()
    assert re.fullmatch(r"AUTH-[0-9A-HJKMNP-TV-Z]{10}", authorization.authorization_number)
    assert (authorization.member_id, authorization.code_system, authorization.code) == ("M123", "CPT", "62330")
    assert authorization.requesting_provider_npi == case.requesting_provider_npi
    assert authorization.approved_units == UNITS
    assert authorization.decision.case_id == case.pk
    assert authorization.service_line_id == line.pk
    assert authorization.client_id == integration_client.pk
    assert case.events.filter(
        kind=CaseEventKind.AUTHORIZATION_ISSUED, detail__authorization=authorization.authorization_number
    ).exists()
    assert AuditEvent.objects.filter(
        object_type=AuditObject.AUTHORIZATION, object_id=authorization.authorization_number
    ).exists()


@pytest.mark.parametrize("outcome", [LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED], ids=str)
def test_a_partial_or_modified_approval_authorizes_the_units_it_approves(
    integration_client, physician, version, outcome
):
    """Issue 16 section 1: a partially approved (A2) or modified (A6) line yields an authorization
    for what was approved."""
    case = submitted(integration_client)
    decide(case, physician, version, outcome, approved_units=2)
    assert active_of(case).approved_units == 2


def test_a_denied_line_issues_no_authorization(integration_client, physician, version):
    """Issue 16 section 1: only approved, partially approved or modified lines yield an authorization."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.DENIED)
    assert not Authorization.objects.filter(case=case).exists()


# --- validity ---------------------------------------------------------------------------------


def test_without_a_rule_an_authorization_runs_from_the_date_of_service_for_90_days(
    integration_client, physician, version
):
    """Issue 16 section 1: the default is the date of service through 90 days after it, recorded."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = active_of(case)
    dos = case.lines.get().date_of_service
    assert (authorization.valid_from, authorization.valid_to) == (dos, dos + timedelta(days=90))
    assert authorization.validity_rule is None
    assert authorization.validity_basis == DEFAULT_BASIS


def test_a_line_of_business_rule_sets_the_period_and_is_recorded(integration_client, physician, version):
    """Issue 16 section 1: the validity period comes from rules by line of business; the rule used
    is recorded on the authorization."""
    rule = AuthorizationValidityRule.objects.create(
        name="Commercial: 60 days", line_of_business=LineOfBusiness.COMMERCIAL, days_before=5, days_after=60
    )
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = active_of(case)
    dos = case.lines.get().date_of_service
    assert (authorization.valid_from, authorization.valid_to) == (dos - timedelta(days=5), dos + timedelta(days=60))
    assert authorization.validity_rule == rule
    assert authorization.validity_basis.startswith("Commercial: 60 days")


def test_the_most_specific_rule_wins(integration_client, physician, version):
    """Issue 16 section 1: rules by line of business, optionally by policy or code range; a policy
    rule is more specific than a code range, which is more specific than a line of business alone."""
    AuthorizationValidityRule.objects.create(name="Any line", days_after=30)
    AuthorizationValidityRule.objects.create(name="Commercial", line_of_business="commercial", days_after=40)
    AuthorizationValidityRule.objects.create(
        name="Spine codes", code_system="CPT", code_start="62000", code_end="62999", days_after=50
    )
    policy_rule = AuthorizationValidityRule.objects.create(name="This policy", policy=version.policy, days_after=70)
    AuthorizationValidityRule.objects.create(
        name="Medicaid policy", line_of_business="medicaid", policy=version.policy, days_after=200
    )
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    assert active_of(case).validity_rule == policy_rule


def test_a_code_range_rule_beats_a_line_of_business_rule(integration_client, physician, version):
    """Issue 16 section 1: optionally by code range; the more specific rule wins."""
    AuthorizationValidityRule.objects.create(name="Commercial", line_of_business="commercial", days_after=40)
    codes = AuthorizationValidityRule.objects.create(
        name="Spine codes", code_system="CPT", code_start="62000", code_end="62999", days_after=50
    )
    AuthorizationValidityRule.objects.create(name="Other codes", code_system="CPT", code_start="99201", days_after=5)
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    assert active_of(case).validity_rule == codes


def test_an_icd10cm_code_range_rule_covers_a_code_under_its_last_code(integration_client, physician, version):
    """An ICD-10-CM range runs in the code set's tabular order: S32.0-S32.2 holds S32.2XXA."""
    fractures = AuthorizationValidityRule.objects.create(
        name="Lumbar fractures", code_system="ICD10CM", code_start="S32.0", code_end="S32.2", days_after=45
    )
    dos = timezone.localdate() + timedelta(days=10)
    line = LineInput(code_system="ICD10CM", code="S32.2XXA", units=UNITS, date_of_service=dos)
    case = factories.case(integration_client, service_lines=(line,))
    decide(case, physician, version, LineOutcome.APPROVED)
    assert active_of(case).validity_rule == fractures


def test_an_icd10cm_code_rule_alone_covers_the_codes_under_it(integration_client, physician, version):
    """A subcategory is never reported itself: a rule on M48.06 is a rule on M48.061 and M48.062."""
    stenosis = AuthorizationValidityRule.objects.create(
        name="Lumbar stenosis", code_system="ICD10CM", code_start="M48.06", days_after=60
    )
    dos = timezone.localdate() + timedelta(days=10)
    line = LineInput(code_system="ICD10CM", code="M48.062", units=UNITS, date_of_service=dos)
    case = factories.case(integration_client, service_lines=(line,))
    decide(case, physician, version, LineOutcome.APPROVED)
    assert active_of(case).validity_rule == stenosis


# --- later decisions --------------------------------------------------------------------------


def test_a_later_approving_decision_supersedes_the_authorization(integration_client, physician, version):
    """Issue 16 section 1 and 3: a later decision on the same line (here a reopening) supersedes the
    authorization with a new one; the old one is kept, ended, not edited."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.PARTIALLY_APPROVED, approved_units=2)
    first = active_of(case)
    case_reopen(case_id=case.pk, user=physician, reason="Clerical error: four sessions were approved by phone.")
    decide(case, physician, version, LineOutcome.APPROVED)
    second = active_of(case)
    first.refresh_from_db()
    assert second.pk != first.pk
    assert (second.approved_units, second.supersedes_id) == (UNITS, first.pk)
    assert first.status == AuthorizationStatus.SUPERSEDED
    assert first.approved_units == 2 and first.ended_at is not None


def test_a_denial_on_reopening_voids_the_authorization(integration_client, physician, version):
    """Issue 16 section 1: a later decision that no longer approves the service voids its authorization."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = active_of(case)
    case_reopen(case_id=case.pk, user=physician, reason="New and material evidence: the policy excludes it.")
    decide(case, physician, version, LineOutcome.DENIED)
    authorization.refresh_from_db()
    assert authorization.status == AuthorizationStatus.VOIDED
    assert not Authorization.objects.filter(case=case, status=AuthorizationStatus.ACTIVE).exists()


def test_an_upheld_appeal_leaves_the_authorization_as_it_was(integration_client, physician, second_physician, version):
    """../shared/DOMAIN.md "After the decision": an upheld appeal confirms the decision, so the partial
    approval's authorization stands unchanged."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.PARTIALLY_APPROVED, approved_units=2)
    authorization = active_of(case)
    appeal = appeal_open(
        case_id=case.pk,
        user=integration_client,
        lines=[1],
        reason="All four sessions are needed.",
        urgency="standard",
        requested_by="provider",
    )
    decide(appeal, second_physician, version, LineOutcome.UPHELD)
    authorization.refresh_from_db()
    assert (authorization.status, authorization.approved_units) == (AuthorizationStatus.ACTIVE, 2)
    assert active_of(case).pk == authorization.pk


def test_the_database_refuses_to_edit_an_authorizations_units(integration_client, physician, version):
    """Issue 16 section 1: an authorization is never edited in place, like a decision (a trigger
    refuses the UPDATE whoever sends it)."""
    case = submitted(integration_client)
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = active_of(case)
    with pytest.raises(DatabaseError), transaction.atomic():
        Authorization.objects.filter(pk=authorization.pk).update(approved_units=99)
    authorization.refresh_from_db()
    assert authorization.approved_units == UNITS


# --- expiry -----------------------------------------------------------------------------------


def test_an_authorization_past_its_end_shows_as_expired_before_the_nightly_run(integration_client, physician, version):
    """Issue 16 section 1: status expired once the validity period has passed."""
    case = submitted(integration_client, dos=timezone.localdate() - timedelta(days=100))
    decide(case, physician, version, LineOutcome.APPROVED)
    authorization = Authorization.objects.get(case=case)
    assert authorization.status == AuthorizationStatus.ACTIVE
    assert authorization.current_status == AuthorizationStatus.EXPIRED


def test_the_expiry_task_expires_ended_authorizations_once(integration_client, physician, version):
    """Issue 16 section 1 (status expired); the brief: a task is idempotent, so a second run changes nothing."""
    ended = submitted(integration_client, dos=timezone.localdate() - timedelta(days=100))
    current = submitted(integration_client)
    decide(ended, physician, version, LineOutcome.APPROVED)
    decide(current, physician, version, LineOutcome.APPROVED)
    assert authorizations_expire_task() == 1
    first = Authorization.objects.get(case=ended)
    assert first.status == AuthorizationStatus.EXPIRED
    assert authorizations_expire_task() == 0
    again = Authorization.objects.get(case=ended)
    assert (again.status, again.ended_at) == (AuthorizationStatus.EXPIRED, first.ended_at)
    assert Authorization.objects.get(case=current).status == AuthorizationStatus.ACTIVE


def test_the_expiry_schedule_is_in_beat(db):
    """The brief: expiry runs nightly from beat's database schedule, editable in the admin."""
    from django_celery_beat.models import PeriodicTask

    task = PeriodicTask.objects.get(name="authorizations: expiry")
    assert task.task == "casemgmt.tasks.authorizations_expire_task"
    assert task.crontab is not None and task.enabled
