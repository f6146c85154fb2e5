"""`load_demo`: the policies, people and cases a new user tries the review cycle with."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import (
    Authorization,
    AuthorizationStatus,
    Case,
    CaseEvent,
    CaseStatus,
    Citation,
    Decision,
    Flag,
    FlagKind,
    GoldCardExemption,
    GoldCardStatus,
    LineOutcome,
    ReviewType,
)
from casemgmt.cases.services.appeals import decision_of_record
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput, ProviderInput, case_submit
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.triage import intake_settings
from casemgmt.demo.facet_policy import BLOCKS_CRITERION, FACET_CODES, FACET_POLICY_NUMBER
from casemgmt.demo.management.commands.load_demo import DEMO_USERS, FACET_KINDS, GOLD_CARD_NPI, facet_external_id
from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role, user_roles
from policies_app.models import (
    Criterion,
    FactDefinition,
    LineOfBusiness,
    PolicyVersion,
    PolicyVersionStatus,
    RequirementRule,
)
from policies_app.selectors import requirement_index
from tests import factories

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    return out.getvalue()


def facet_version() -> PolicyVersion:
    return PolicyVersion.objects.select_related("policy").get(policy__number=FACET_POLICY_NUMBER)


def facet_case(line_of_business: str, tag: str) -> Case:
    kind = next(k for k in FACET_KINDS if k.tag == tag)
    return Case.objects.get(external_id=facet_external_id(line_of_business, kind))


def user(username: str) -> User:
    return User.objects.get(username=username)


def test_the_facet_policy_is_published_with_a_content_hash_and_effective_dates():
    """Issue 16 §6: load_demo publishes a third policy through the policy services."""
    load_demo()
    version = facet_version()
    assert version.status == PolicyVersionStatus.PUBLISHED
    assert len(version.content_sha256) == 64
    assert version.effective_start is not None and version.published_at is not None


def test_the_facet_policy_applies_to_every_line_of_business():
    """Issue 16 §6: the third policy applies to every line of business, Medicare Advantage and Medicaid included."""
    load_demo()
    assert sorted(facet_version().policy.lines_of_business) == sorted(LineOfBusiness.values)


def test_the_facet_policy_governs_cpt_64633_and_64635_with_criteria():
    """Issue 16 §6: the policy governs CPT 64633 and 64635 (facet joint denervation) with criteria."""
    load_demo()
    version = facet_version()
    assert set(FACET_CODES) <= set(version.codes.values_list("code", flat=True))
    assert version.coverage_position == "medically_necessary_with_criteria"
    assert Criterion.objects.filter(version=version, label=BLOCKS_CRITERION, fact__key="medial_branch_blocks_80_relief")
    assert FactDefinition.objects.filter(key="facet_denervation_within_6_months", value_type="boolean").exists()


def test_running_load_demo_twice_changes_no_policy_case_or_decision():
    """Issue 16 §6 with the README: `load_demo` is safe to run again."""
    load_demo()
    models = (PolicyVersion, Criterion, FactDefinition, Case, Decision, Citation, Authorization, CaseEvent, Flag)
    before = [m.objects.count() for m in models]
    load_demo()
    assert [m.objects.count() for m in models] == before


def test_there_is_a_demo_user_for_every_role_and_a_second_physician():
    """Issue 16 §2: an appeal is decided by a physician who took no part (42 CFR 422.590(h)(2)),
    so the demo has two physician reviewers; and a claims system (issue 16 §1)."""
    load_demo()
    roles = [role for username, _, _ in DEMO_USERS for role in user_roles(user(username))]
    assert set(roles) == set(Role)
    assert roles.count(Role.PHYSICIAN) == 2


@pytest.mark.parametrize("line_of_business", LineOfBusiness.values)
def test_each_line_of_business_has_a_facet_request_to_deny(line_of_business):
    """Issue 16 §6: a denial can be tried for each line of business; the request fails a criterion."""
    load_demo()
    case = facet_case(line_of_business, "REQ")
    assert case.status == CaseStatus.RECEIVED
    flag = case.flags.get(superseded_at__isnull=True, policy_version=facet_version())
    assert flag.kind == FlagKind.CRITERIA_NOT_MET


def test_the_approved_facet_cases_meet_every_criterion_of_the_policy():
    """DOMAIN.md "Criteria and flags": a nurse approves what the policy's criteria allow (CHIP members included)."""
    load_demo()
    kinds = {
        line_of_business: facet_case(line_of_business, "APR")
        .flags.get(superseded_at__isnull=True, policy_version=facet_version())
        .kind
        for line_of_business in LineOfBusiness.values
    }
    assert set(kinds.values()) == {FlagKind.CRITERIA_MET}


@pytest.mark.parametrize("line_of_business", LineOfBusiness.values)
def test_each_line_of_business_has_a_denial_citing_the_facet_policy_ready_to_appeal(line_of_business):
    """Issue 16 §4 and §6: the demo's denials cite the third policy's version on their line."""
    load_demo()
    case = facet_case(line_of_business, "DEN")
    decision = decision_of_record(case)
    assert decision is not None and case.status == CaseStatus.DECIDED and not case.appeals.exists()
    line = decision.lines.get()
    assert line.outcome == LineOutcome.DENIED
    assert list(line.citations.values_list("policy_version_id", "criterion")) == [
        (facet_version().pk, BLOCKS_CRITERION)
    ]


@pytest.mark.parametrize("line_of_business", LineOfBusiness.values)
def test_each_line_of_business_has_an_appeal_only_the_second_physician_may_decide(line_of_business):
    """42 CFR 422.590(h)(2); 29 CFR 2560.503-1(h)(3)(ii): the denying physician may not decide the appeal."""
    load_demo()
    appeal = facet_case(line_of_business, "APL").appeals.get()
    assert appeal.review_type == ReviewType.APPEAL and appeal.status == CaseStatus.RECEIVED
    upheld = [DecisionLineInput(service_line=1, outcome=LineOutcome.UPHELD, reason="Still one block.")]
    with pytest.raises(PermissionDeniedError):
        decision_record(case_id=appeal.pk, user=user("physician"), lines=upheld, citations=[])


def test_the_medicare_advantage_appeal_upheld_goes_to_the_independent_review_entity():
    """42 CFR 422.592(a): an upheld Medicare Advantage reconsideration is forwarded to the IRE."""
    load_demo()
    appeal = facet_case(LineOfBusiness.MEDICARE_ADVANTAGE, "APL").appeals.get()
    decision_record(
        case_id=appeal.pk,
        user=user("physician2"),
        lines=[
            DecisionLineInput(
                service_line=1,
                outcome=LineOutcome.UPHELD,
                reason="The second block's relief is not documented.",
                citations=(CitationInput(policy_version_id=facet_version().pk, criterion=BLOCKS_CRITERION),),
            )
        ],
        citations=[],
    )
    appeal.refresh_from_db()
    assert appeal.status == CaseStatus.FORWARDED_TO_IRE


@pytest.mark.parametrize("line_of_business", LineOfBusiness.values)
def test_each_line_of_business_has_an_approved_case_with_an_authorization_to_reopen(line_of_business):
    """Issue 16 §1 and §3: an approval yields an authorization; a decided case can be reopened."""
    load_demo()
    case = facet_case(line_of_business, "APR")
    assert Authorization.objects.get(case=case).status == AuthorizationStatus.ACTIVE
    reopened = case_reopen(case_id=case.pk, user=user("physician"), reason="New imaging report arrived.")
    assert reopened.status == CaseStatus.IN_REVIEW


@pytest.mark.parametrize(
    ("line_of_business", "plan_id"), [(LineOfBusiness.MEDICARE_ADVANTAGE, "H1234"), (LineOfBusiness.MEDICAID, "IA")]
)
def test_facet_cases_carry_a_plan_id_for_the_cms_0057f_report(line_of_business, plan_id):
    """Issue 16 §5: a Medicare Advantage contract number, a state for Medicaid."""
    load_demo()
    assert {
        c.plan_id for c in Case.objects.filter(line_of_business=line_of_business, external_id__startswith="FACET")
    } == {plan_id}


def test_load_demo_prints_the_logins_and_the_facet_cases_to_try():
    """Issue 16 "Done when": tried as a new user would, from what `make run` prints."""
    out = load_demo()
    assert "physician2" in out and "Claims system" in out
    assert "create_api_token claims" in out
    assert facet_case(LineOfBusiness.MEDICARE_ADVANTAGE, "DEN").case_number in out


def test_load_demo_records_its_writes_in_the_audit_log():
    """HIPAA 45 CFR 164.312(b): the demo's policy publishing and decisions are audited like anyone's."""
    load_demo()
    assert AuditEvent.objects.filter(object_type="policy_version", object_id=str(facet_version().pk)).exists()


def test_the_demo_policies_are_submitted_by_one_editor_and_published_by_another():
    """Issue 17 §6: publishing needs a second editor, for the demo's own policies too; so the demo has two editors."""
    load_demo()
    versions = PolicyVersion.objects.filter(status=PolicyVersionStatus.PUBLISHED)
    assert versions.count() >= 3
    assert {(v.submitted_by.username, v.published_by.username) for v in versions} == {("editor", "editor2")}


# --- triage at intake: which services need authorization, automatic approval ----------------------


def test_office_visits_need_no_prior_authorization():
    load_demo()
    answer = requirement_index().lookup(
        code_system="CPT", code="99213", date_of_service=date(2024, 11, 18), line_of_business="medicaid"
    )
    assert answer.requirement == "not_required"


def test_the_facet_policy_codes_need_prior_authorization_by_their_own_rule():
    load_demo()
    answer = requirement_index().lookup(
        code_system="CPT", code="64635", date_of_service=date(2026, 1, 5), line_of_business="commercial"
    )
    assert (answer.requirement, answer.is_default) == ("required", False)


def test_any_other_service_needs_prior_authorization_by_the_plan_wide_rule():
    load_demo()
    answer = requirement_index().lookup(
        code_system="CPT", code="72148", date_of_service=date(2026, 1, 5), line_of_business="exchange"
    )
    assert (answer.requirement, answer.is_default, answer.rule_id is not None) == ("required", True, True)


def test_the_wellmark_prior_approval_statement_waits_as_a_suggested_rule():
    load_demo()
    suggested = RequirementRule.objects.filter(suggested_from__policy__number="07.01.89")
    assert {(r.code_start, r.requirement, r.status) for r in suggested} >= {("62330", "not_required", "draft")}
    assert {r.source_text for r in suggested} == {"PRIOR APPROVAL: Not applicable."}


def test_the_facet_policy_allows_approval_when_its_criteria_are_met():
    load_demo()
    assert facet_version().auto_approve_when_met is True


def test_load_demo_turns_automatic_approval_on():
    load_demo()
    assert intake_settings().automatic_approval is True


def test_running_load_demo_twice_adds_no_requirement_rule():
    load_demo()
    before = RequirementRule.objects.count()
    load_demo()
    assert RequirementRule.objects.count() == before


def test_the_demo_shows_an_office_visit_answered_no_authorization_required():
    load_demo()

    case = Case.objects.get(external_id="DEMO-OFFICE")

    assert case.status == CaseStatus.CLOSED
    assert decision_of_record(case).lines.get().outcome == LineOutcome.NOT_REQUIRED


def test_the_demo_shows_a_facet_request_approved_automatically_at_intake():
    load_demo()

    case = Case.objects.get(external_id="DEMO-AUTO")

    assert case.status == CaseStatus.DECIDED
    assert case.determined_automatically is True
    assert Authorization.objects.get(case=case).status == AuthorizationStatus.ACTIVE


def test_the_demo_gold_card_holders_facet_request_is_approved_at_intake():
    load_demo()
    card = GoldCardExemption.objects.get(provider_npi=GOLD_CARD_NPI, status=GoldCardStatus.ACTIVE)
    portal = user("portal")

    case = case_submit(
        client=portal,
        data=factories.case_input(
            external_id="GOLD-1",
            requesting_provider=ProviderInput(npi=GOLD_CARD_NPI, name="Gold Spine Associates"),
            service_lines=(
                LineInput(
                    code_system="CPT", code="64635", units=1, date_of_service=timezone.localdate() + timedelta(days=9)
                ),
            ),
            diagnosis_codes=("M47.816",),
        ),
    )

    assert case.status == CaseStatus.DECIDED
    assert card.programme.name in decision_of_record(case).lines.get().reason
