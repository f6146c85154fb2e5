"""The demo's cases by state: one request for each state a reviewer meets in a day.

Most are lumbar fusion requests (`fusion_policy`), taken by the services as far as their state
needs: submitted by the portal client, pended or referred by the nurse, decided by a nurse or a
physician, appealed by the provider, reopened by a physician, and a retrospective review run by a
manager. A state the rest of the demo already shows (an investigational device, an approval at
intake) names that case. Every case is written once: a second `load_demo` finds it by its
external id and leaves it, and whatever a demo user did to it since, as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from casemgmt.cases.models import AppealRequester, Case, LineOutcome, ReviewType, Urgency
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.demo.fusion_policy import (
    DOCUMENTED_CRITERION,
    INDICATION_CRITERION,
    INDICATION_FACT,
    ODI_CRITERION,
)
from casemgmt.retro.models import RetroRun, RetroTrigger
from casemgmt.retro.services import RunRequest, retro_run_request
from policies_app.models import LineOfBusiness, PolicyVersion

DEMO_NPI = "1234567893"
PLAN_ID = "GRP-40021"

# Every criterion of the fusion policy met (the indication from its list of allowed values).
MET: dict[str, Any] = {
    INDICATION_FACT: "spondylolisthesis",
    "conservative_therapy_weeks": 16,
    "oswestry_disability_index": 44,
    "smoking_status": "never",
}

FUSION_L4_L5 = ("22633", "Lumbar fusion L4-L5, combined posterolateral and interbody")
NEXT_LEVEL = ("22634", "Lumbar fusion, additional interspace L3-L4")
POSTEROLATERAL = ("22612", "Posterolateral lumbar fusion L4-L5")


# One thing a person does to a case: (the case, the demo users by name, the fusion version).
Step = Callable[[Case, dict[str, User], PolicyVersion], None]


@dataclass(frozen=True)
class StoryCase:
    """A request and how far the demo takes it; `state` is what load_demo prints it under."""

    state: str
    external_id: str
    member: tuple[str, str, date]
    facts: dict[str, Any]
    notes: str
    lines: tuple[tuple[str, str, int], ...] = ((*FUSION_L4_L5, 1),)
    line_of_business: str = LineOfBusiness.COMMERCIAL
    review_type: str = ReviewType.PROSPECTIVE
    days_ahead: int = 21
    diagnoses: tuple[str, ...] = ("M43.16",)
    # What the reviewers do with it, in order.
    steps: tuple[Step, ...] = ()


def _refer(summary: str) -> Step:
    def step(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
        case_refer_to_physician(case_id=case.pk, user=users["nurse"], summary=summary)

    return step


def _pend(needed: str) -> Step:
    def step(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
        case_pend_for_information(case_id=case.pk, user=users["nurse"], needed=needed)

    return step


def _approve(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
    lines = [
        DecisionLineInput(service_line=line.sequence, outcome=LineOutcome.APPROVED, citations=_cite(version))
        for line in case.lines.order_by("sequence")
    ]
    decision_record(case_id=case.pk, user=users["nurse"], lines=lines, citations=[])


def _approve_first_refer_second(note: str) -> Step:
    """The nurse approves line 1 and refers line 2 to a physician; the case is not pended."""

    def step(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
        lines = [
            DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED, citations=_cite(version)),
            DecisionLineInput(service_line=2, outcome=LineOutcome.REFERRED, reason=note),
        ]
        decision_record(case_id=case.pk, user=users["nurse"], lines=lines, citations=[])

    return step


def _cite(version: PolicyVersion, criterion: str = "") -> tuple[CitationInput, ...]:
    return (CitationInput(policy_version_id=version.pk, criterion=criterion),)


def _physician(*outcomes: tuple[str, str, int | None, str], rationale: str = "") -> Step:
    """The physician decides each line: (outcome, reason, approved units, criterion cited)."""

    def step(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
        lines = [
            DecisionLineInput(
                service_line=sequence,
                outcome=outcome,
                reason=reason,
                approved_units=units,
                citations=_cite(version, criterion),
            )
            for sequence, (outcome, reason, units, criterion) in enumerate(outcomes, start=1)
        ]
        decision_record(case_id=case.pk, user=users["physician"], lines=lines, citations=[], rationale=rationale)

    return step


def _appeal(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
    appeal_open(
        case_id=case.pk,
        user=users["portal"],
        lines=[1],
        reason=(
            "The member has done 14 weeks of physical therapy since; a new Oswestry score of 38 and the "
            "therapist's discharge note are attached to this appeal."
        ),
        urgency=Urgency.STANDARD,
        requested_by=AppealRequester.PROVIDER,
    )


def _reopen(case: Case, users: dict[str, User], version: PolicyVersion) -> None:
    case_reopen(
        case_id=case.pk,
        user=users["physician"],
        reason="New and material information: the MRI report now shows a second level of instability.",
    )


def _odi_low(score: int) -> str:
    return f"The Oswestry Disability Index is {score}; the policy asks for 30 or more before fusion is considered."


SECOND_LEVEL = (
    "Flexion-extension films show instability at L4-L5 only; L3-L4 has no listhesis or instability, so "
    "fusing it is not medically necessary."
)

STORY: tuple[StoryCase, ...] = (
    StoryCase(
        "criteria met, waiting for a nurse",
        "STORY-MET",
        ("Grace", "Holm", date(1968, 5, 2)),
        MET,
        "Grade I degenerative spondylolisthesis L4-L5 with stenosis; 16 weeks of therapy and two epidural "
        "injections without lasting relief. Never smoked.",
    ),
    StoryCase(
        "criteria unknown: a documented review for the nurse",
        "STORY-UNKNOWN",
        ("Hugo", "Brandt", date(1961, 11, 23)),
        {**MET, INDICATION_FACT: "other"},
        "Pathological compression fracture of L4 after radiation, with instability; see the imaging report. "
        f"The reviewer records whether the notes show: {DOCUMENTED_CRITERION.lower()}.",
        diagnoses=("M48.56XA",),
    ),
    StoryCase(
        "criteria not met (a current smoker)",
        "STORY-NOT-MET",
        ("Ida", "Sorensen", date(1975, 2, 14)),
        {**MET, "smoking_status": "current"},
        "Isthmic spondylolisthesis L5-S1; smokes a pack a day, counselled to stop before surgery.",
        diagnoses=("M43.17",),
    ),
    StoryCase(
        "pended for information",
        "STORY-PENDED",
        ("Jonas", "Weber", date(1958, 8, 30)),
        {key: value for key, value in MET.items() if key != "oswestry_disability_index"},
        "Instability at L4-L5 on flexion-extension films; disability score not sent.",
        steps=(_pend("The Oswestry Disability Index score and the flexion-extension film report."),),
    ),
    StoryCase(
        "referred to a physician",
        "STORY-REFERRED",
        ("Kira", "Lindqvist", date(1972, 6, 11)),
        {**MET, INDICATION_FACT: "disc_degeneration_only"},
        "Disc degeneration L4-L5 and L5-S1 with axial back pain; no listhesis or instability on imaging.",
        diagnoses=("M51.362",),
        line_of_business=LineOfBusiness.EXCHANGE,
        steps=(
            _refer(
                "Disc degeneration with back pain only, which the policy calls not medically necessary; "
                "please review for denial or a peer-to-peer."
            ),
        ),
    ),
    StoryCase(
        "one line approved by the nurse, one referred to a physician",
        "STORY-LINE-REFERRED",
        ("Ulla", "Magnusson", date(1967, 9, 12)),
        MET,
        "Spondylolisthesis L4-L5 with instability; the surgeon also asks to fuse L3-L4, read as borderline.",
        lines=((*FUSION_L4_L5, 1), (*NEXT_LEVEL, 1)),
        steps=(
            _approve_first_refer_second(
                "L3-L4 shows 3 mm of translation on the films, under the 4 mm the policy names; please decide "
                "this level."
            ),
        ),
    ),
    StoryCase(
        "decided: approved",
        "STORY-APPROVED",
        ("Lena", "Fischer", date(1966, 1, 19)),
        MET,
        "Degenerative spondylolisthesis L4-L5; every criterion of the policy documented.",
        steps=(_approve,),
    ),
    StoryCase(
        "decided: partially approved",
        "STORY-PARTIAL",
        ("Marco", "Rossi", date(1959, 9, 4)),
        MET,
        "Spondylolisthesis L4-L5 with stenosis above; the surgeon asks for two additional levels.",
        lines=((*FUSION_L4_L5, 1), (*NEXT_LEVEL, 2)),
        steps=(
            _refer("Three levels requested; the films show instability at one level and possibly the next."),
            _physician(
                (LineOutcome.APPROVED, "", None, ""),
                (
                    LineOutcome.PARTIALLY_APPROVED,
                    "One additional level (L3-L4) shows instability; the second additional level does not.",
                    1,
                    INDICATION_CRITERION,
                ),
            ),
        ),
    ),
    StoryCase(
        "decided: denied",
        "STORY-DENIED",
        ("Nadia", "Kowalski", date(1970, 3, 27)),
        {**MET, "oswestry_disability_index": 22},
        "Spondylolisthesis L4-L5; mild disability (Oswestry 22).",
        steps=(
            _refer("Oswestry below the policy's threshold."),
            _physician((LineOutcome.DENIED, _odi_low(22), None, ODI_CRITERION)),
        ),
    ),
    StoryCase(
        "decided: modified",
        "STORY-MODIFIED",
        ("Oskar", "Berg", date(1957, 12, 8)),
        MET,
        "Spondylolisthesis L4-L5; combined interbody and posterolateral fusion planned.",
        steps=(
            _refer("The interbody part may not be needed for a grade I slip; please review."),
            _physician(
                (
                    LineOutcome.MODIFIED,
                    "Approved as a posterolateral fusion (CPT 22612) without the interbody device: a stable "
                    "grade I slip does not need the interbody part.",
                    None,
                    INDICATION_CRITERION,
                ),
            ),
        ),
    ),
    StoryCase(
        "decided: mixed (one line approved, one denied)",
        "STORY-MIXED",
        ("Petra", "Novak", date(1964, 4, 16)),
        MET,
        "Spondylolisthesis L4-L5; the surgeon also asks to fuse L3-L4, which shows disc degeneration only.",
        lines=((*FUSION_L4_L5, 1), (*NEXT_LEVEL, 1)),
        steps=(
            _refer("L4-L5 meets the policy; L3-L4 has no structural indication."),
            _physician(
                (LineOutcome.APPROVED, "", None, ""),
                (LineOutcome.DENIED, SECOND_LEVEL, None, INDICATION_CRITERION),
            ),
        ),
    ),
    StoryCase(
        "appealed (the appeal waits for a second physician)",
        "STORY-APPEALED",
        ("Rosa", "Almeida", date(1969, 10, 5)),
        {**MET, "oswestry_disability_index": 24},
        "Spondylolisthesis L4-L5; Oswestry 24 before the last round of therapy.",
        steps=(
            _refer("Oswestry below the policy's threshold."),
            _physician((LineOutcome.DENIED, _odi_low(24), None, ODI_CRITERION)),
            _appeal,
        ),
    ),
    StoryCase(
        "reopened after a decision",
        "STORY-REOPENED",
        ("Stefan", "Horvat", date(1963, 7, 21)),
        MET,
        "Instability at L4-L5 on flexion-extension films.",
        lines=((*POSTEROLATERAL, 1),),
        steps=(_approve, _reopen),
    ),
    StoryCase(
        "retrospective review item (approved, though the member smoked)",
        "STORY-RETRO",
        ("Tomas", "Varga", date(1960, 2, 3)),
        {**MET, "smoking_status": "quit_recently"},
        "Fusion done on the date of service; the request came after it. Stopped smoking three weeks before.",
        review_type=ReviewType.RETROSPECTIVE,
        days_ahead=-21,
        steps=(_approve,),
    ),
)


def _input(story: StoryCase, index: int, today: date) -> CaseInput:
    first, last, birth_date = story.member
    return CaseInput(
        external_id=story.external_id,
        urgency=Urgency.STANDARD,
        line_of_business=story.line_of_business,
        review_type=story.review_type,
        plan_id=PLAN_ID if story.line_of_business == LineOfBusiness.COMMERCIAL else "12345IA0010001",
        member=MemberInput(
            member_id=f"S{700100 + index}",
            first_name=first,
            last_name=last,
            birth_date=birth_date,
        ),
        requesting_provider=ProviderInput(npi=DEMO_NPI, name="Demo Spine Clinic"),
        diagnosis_codes=story.diagnoses,
        service_lines=tuple(
            LineInput(
                code_system="CPT",
                code=code,
                units=units,
                date_of_service=today + timedelta(days=story.days_ahead),
                description=description,
            )
            for code, description, units in story.lines
        ),
        clinical_facts=dict(story.facts),
        clinical_notes=story.notes,
    )


# States the rest of the demo shows: (state, external id of the case).
OTHER_STATES = (
    ("investigational (a procedure the policy calls investigational)", "DEMO-1"),
    ("investigational (a device named in the notes, retrospective)", "DEMO-3"),
    ("approved automatically at intake (criteria met)", "DEMO-AUTO"),
)


def cases_by_state(*, client: User) -> list[tuple[str, Case]]:
    """The demo's case of each state, in the order load_demo prints them; an appealed case is
    followed by its appeal."""
    wanted = [(story.state, story.external_id) for story in STORY] + list(OTHER_STATES)
    found = {
        case.external_id: case
        for case in Case.objects.filter(submitted_by=client, external_id__in=[external_id for _, external_id in wanted])
    }
    out: list[tuple[str, Case]] = []
    for state, external_id in wanted:
        case = found.get(external_id)
        if case is None:
            continue
        out.append((state, case))
        out.extend(("its appeal", appeal) for appeal in case.appeals.order_by("pk"))
    return out


def story_cases_ensure(*, users: dict[str, User], version: PolicyVersion, today: date) -> dict[str, Case]:
    """The story's cases by state, each submitted and taken through its steps the first time."""
    out: dict[str, Case] = {}
    client = users["portal"]
    for index, story in enumerate(STORY):
        case = Case.objects.filter(submitted_by=client, external_id=story.external_id).first()
        if case is None:
            with transaction.atomic():
                case = case_submit(client=client, data=_input(story, index, today))
                for step in story.steps:
                    step(case, users, version)
            case.refresh_from_db()
        out[story.state] = case
    return out


def retro_review_ensure(*, manager: User, version: PolicyVersion, today: date) -> RetroRun:
    """A manager's retrospective review of the fusion policy's past month, which opens a review item
    for the approved retrospective request; asked for once."""
    run = RetroRun.objects.filter(policy_id=version.policy_id, trigger=RetroTrigger.ON_DEMAND).order_by("pk").first()
    if run is None:
        run = retro_run_request(
            user=manager,
            request=RunRequest(policy_id=version.policy_id, date_from=today - timedelta(days=60), date_to=today),
        )
    run.refresh_from_db()
    return run
