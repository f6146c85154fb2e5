"""`load_demo`'s cases by state (issue 19, "Demo data that tells the story"): every state a reviewer
meets is in the demo after one run, and a second run adds nothing."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.test import TestCase
from pytest_django import DjangoDbBlocker

from casemgmt.cases.models import (
    Authorization,
    Case,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    Decision,
    Flag,
    FlagKind,
    LineOutcome,
    RequestOutcome,
)
from casemgmt.cases.services.appeals import decision_of_record
from casemgmt.demo.fusion_policy import DOCUMENTED_CRITERION, FUSION_POLICY_NUMBER, INDICATION_FACT
from casemgmt.demo.story import STORY, cases_by_state
from casemgmt.retro.models import OPEN_ITEM_STATUSES, RetroReviewItem, RetroRun
from policies_app.models import Criterion, CriterionNodeType, FactDefinition, PolicyVersion
from tests.services_fixtures import eager_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo_output(django_db_setup: None, django_db_blocker: DjangoDbBlocker) -> Iterator[str]:
    """`load_demo` once for the module, inside a transaction rolled back at its end; each test runs
    in a savepoint of it. The tasks sent on commit (the retrospective review run) run as they
    would after the command's commits."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = io.StringIO()
        with eager_tasks(), TestCase.captureOnCommitCallbacks(execute=True):
            call_command("load_demo", stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def story_case(external_id: str) -> Case:
    return Case.objects.get(external_id=external_id)


def current_flag_kinds(case: Case) -> set[str]:
    return set(case.flags.filter(superseded_at__isnull=True).values_list("kind", flat=True))


def line_outcomes(case: Case) -> list[str]:
    decision = decision_of_record(case)
    assert decision is not None
    return list(decision.lines.order_by("service_line__sequence").values_list("outcome", flat=True))


def test_the_fusion_policy_has_a_documented_review_criterion(demo_output: str) -> None:
    version = PolicyVersion.objects.get(policy__number=FUSION_POLICY_NUMBER)
    documented = Criterion.objects.get(version=version, node_type=CriterionNodeType.DOCUMENTED)
    assert (documented.label, documented.fact_id) == (DOCUMENTED_CRITERION, None)


def test_the_fusion_policys_indication_fact_lists_its_allowed_values_with_labels(demo_output: str) -> None:
    allowed = FactDefinition.objects.get(key=INDICATION_FACT).allowed_values
    assert {"value": "spondylolisthesis", "label": "Degenerative or isthmic spondylolisthesis"} in allowed


def test_a_request_meeting_every_criterion_waits_for_a_nurse(demo_output: str) -> None:
    case = story_case("STORY-MET")
    assert (case.status, current_flag_kinds(case)) == (CaseStatus.RECEIVED, {FlagKind.CRITERIA_MET})


def test_a_request_reads_unknown_until_the_documented_criterion_is_reviewed(demo_output: str) -> None:
    case = story_case("STORY-UNKNOWN")
    flag = case.flags.get(superseded_at__isnull=True)
    assert flag.kind == FlagKind.CRITERIA_INCOMPLETE
    assert DOCUMENTED_CRITERION in str(flag.details)


def test_a_request_failing_a_criterion_is_flagged_not_met(demo_output: str) -> None:
    assert current_flag_kinds(story_case("STORY-NOT-MET")) == {FlagKind.CRITERIA_NOT_MET}


def test_an_investigational_procedure_is_flagged(demo_output: str) -> None:
    assert FlagKind.INVESTIGATIONAL in current_flag_kinds(story_case("DEMO-1"))


def test_a_request_is_pended_for_information(demo_output: str) -> None:
    assert story_case("STORY-PENDED").status == CaseStatus.PENDED


def test_a_request_is_referred_to_a_physician(demo_output: str) -> None:
    case = story_case("STORY-REFERRED")
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert case.events.filter(kind=CaseEventKind.REFERRED).exists()


def test_a_nurse_approves_one_line_and_refers_the_other_without_pending_the_case(demo_output: str) -> None:
    case = story_case("STORY-LINE-REFERRED")
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert line_outcomes(case) == [LineOutcome.APPROVED, LineOutcome.REFERRED]


@pytest.mark.parametrize(
    ("external_id", "outcome", "lines"),
    [
        ("STORY-APPROVED", RequestOutcome.APPROVED, [LineOutcome.APPROVED]),
        ("STORY-PARTIAL", RequestOutcome.PARTIALLY_APPROVED, [LineOutcome.APPROVED, LineOutcome.PARTIALLY_APPROVED]),
        ("STORY-DENIED", RequestOutcome.DENIED, [LineOutcome.DENIED]),
        ("STORY-MODIFIED", RequestOutcome.PARTIALLY_APPROVED, [LineOutcome.MODIFIED]),
        ("STORY-MIXED", RequestOutcome.MIXED, [LineOutcome.APPROVED, LineOutcome.DENIED]),
    ],
)
def test_a_request_is_decided_with_each_outcome(demo_output: str, external_id: str, outcome: str, lines: list[str]):
    case = story_case(external_id)
    assert (case.status, case.outcome, line_outcomes(case)) == (CaseStatus.DECIDED, outcome, lines)


def test_a_denial_is_appealed_and_the_appeal_waits_for_review(demo_output: str) -> None:
    appeal = story_case("STORY-APPEALED").appeals.get()
    assert appeal.status == CaseStatus.RECEIVED


def test_an_approved_request_is_reopened(demo_output: str) -> None:
    case = story_case("STORY-REOPENED")
    assert case.status == CaseStatus.IN_REVIEW
    assert case.events.filter(kind=CaseEventKind.REOPENED).exists()


def test_a_retrospective_review_opens_an_item_for_the_approval_the_criteria_do_not_support(demo_output: str) -> None:
    item = RetroReviewItem.objects.get(case=story_case("STORY-RETRO"))
    assert item.status in OPEN_ITEM_STATUSES


def test_a_request_is_approved_automatically_at_intake(demo_output: str) -> None:
    case = story_case("DEMO-AUTO")
    assert (case.status, case.determined_automatically) == (CaseStatus.DECIDED, True)


def test_load_demo_prints_each_state_with_its_case_number(demo_output: str) -> None:
    portal = User.objects.get(username="portal")
    for state, case in cases_by_state(client=portal):
        assert f"{state}" in demo_output and case.case_number in demo_output


def test_every_story_case_is_in_the_demo(demo_output: str) -> None:
    portal = User.objects.get(username="portal")
    listed = {case.external_id for _, case in cases_by_state(client=portal)}
    assert {story.external_id for story in STORY} <= listed


def test_a_second_load_demo_adds_no_case_decision_flag_or_review_item(demo_output: str) -> None:
    models = (Case, Decision, Flag, Authorization, CaseEvent, RetroRun, RetroReviewItem, FactDefinition)
    before = [model.objects.count() for model in models]
    with eager_tasks(), TestCase.captureOnCommitCallbacks(execute=True):
        call_command("load_demo", stdout=io.StringIO())
    assert [model.objects.count() for model in models] == before
