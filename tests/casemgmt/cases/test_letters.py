"""What a decision letter says: per-line reasons and citations, appeal rights, appeal outcomes
and the next review, and the letter of a decision that replaces an earlier one.

Letters are built from decisions recorded through the services (decision_record, appeal_open,
case_reopen) and read through casemgmt.cases.letters, as the letter page and the PDF do.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pypdf import PdfReader

from casemgmt.cases import letters
from casemgmt.cases.models import AppealWindow, Case, CaseEvent, CaseEventKind, Citation, Decision
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput
from casemgmt.cases.services.reopenings import case_reopen
from casemgmt.kernel.roles import Role
from policies_app.models import LineOfBusiness, PolicyVersion
from tests import factories

pytestmark = pytest.mark.django_db

CODES = ("64633", "64635", "62330", "62331")


@pytest.fixture
def facet_policy(editor: User) -> PolicyVersion:
    """A policy for every line of business, Medicare Advantage and Medicaid included."""
    policy = factories.policy(
        number="FJ.01", title="Facet joint denervation", lines_of_business=list(LineOfBusiness.values)
    )
    version = factories.draft_version(
        policy,
        codes=[("CPT", code, "") for code in CODES],
        coverage_position="not_medically_necessary",
        statement="Denervation is covered after two diagnostic blocks with at least 80% relief.",
    )
    return factories.publish(version, editor)


@pytest.fixture
def imaging_policy(editor: User) -> PolicyVersion:
    policy = factories.policy(
        number="IM.02", title="Imaging before spine procedures", lines_of_business=list(LineOfBusiness.values)
    )
    version = factories.draft_version(
        policy, coverage_position="not_medically_necessary", statement="Imaging within 12 months is required."
    )
    return factories.publish(version, editor)


@pytest.fixture
def appeal_physician(db: None) -> User:
    """A physician reviewer who took no part in the first decision."""
    return factories.user("appeal-physician", Role.PHYSICIAN)


def request(client: User, *, line_of_business: str = "commercial", units: tuple[int, ...] = (1,)) -> Case:
    dos = timezone.localdate() + timedelta(days=10)
    lines = tuple(
        LineInput(code_system="CPT", code=code, units=count, date_of_service=dos)
        for code, count in zip(CODES, units, strict=False)
    )
    return factories.case(client, line_of_business=line_of_business, service_lines=lines)


def cite(version: PolicyVersion, criterion: str = "") -> tuple[CitationInput, ...]:
    return (CitationInput(policy_version_id=version.pk, criterion=criterion),)


def deny(
    case: Case, physician: User, version: PolicyVersion, reason: str = "No diagnostic blocks on file."
) -> Decision:
    return decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason=reason, citations=cite(version))],
        citations=[],
    )


def letter_of(decision: Decision, reader: User, recipient: str = "member") -> letters.Letter:
    found = letters.decision_for_letter(reader, decision.case.case_number, decision.pk)
    assert found is not None
    return letters.letter_build(found, recipient)


def rights_text(letter: letters.Letter) -> str:
    return " ".join(letters.letter_paragraphs(letter)["appeal"])


def opening_text(letter: letters.Letter) -> str:
    return " ".join(letters.letter_paragraphs(letter)["opening"])


def appeal(case: Case, client: User, lines: list[int]) -> Case:
    return appeal_open(
        case_id=case.pk,
        user=client,
        lines=lines,
        reason="The member has had two diagnostic blocks since.",
        urgency="standard",
        requested_by="member",
    )


def uphold(appeal_case: Case, physician: User, version: PolicyVersion, reason: str = "Still no blocks.") -> Decision:
    return decision_record(
        case_id=appeal_case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="upheld", reason=reason, citations=cite(version))],
        citations=[],
    )


# --- citations per line ---------------------------------------------------------------------


def test_each_adverse_line_shows_its_own_reason_and_citations(
    integration_client, physician, facet_policy, imaging_policy
):
    """NCQA UM 7; 42 CFR 422.568(e): each denied service gets its specific reason and the
    criterion it rests on, not the citations of another line."""
    case = request(integration_client, units=(1, 1))
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="denied", reason="No blocks.", citations=cite(facet_policy)),
            DecisionLineInput(service_line=2, outcome="denied", reason="No imaging.", citations=cite(imaging_policy)),
        ],
        citations=[],
    )
    first, second = letter_of(decision, physician).lines
    assert (first.reason, [c.policy_number for c in first.citations]) == ("No blocks.", ["FJ.01"])
    assert (second.reason, [c.policy_number for c in second.citations]) == ("No imaging.", ["IM.02"])


def test_citations_recorded_for_the_whole_decision_show_under_every_adverse_line(
    integration_client, physician, facet_policy, imaging_policy
):
    """NCQA UM 7: citations recorded before they were per line (no decision line) apply to the
    whole decision, so each adverse line names them; an approved line does not."""
    case = request(integration_client, units=(1, 1, 1))
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="denied", reason="No blocks.", citations=cite(facet_policy)),
            DecisionLineInput(service_line=3, outcome="denied", reason="No blocks.", citations=cite(facet_policy)),
        ],
        citations=[],
    )
    # A row as the decision service wrote it before citations belonged to lines.
    own = Citation.objects.filter(decision=decision).first()
    assert own is not None
    Citation.objects.create(
        decision=decision,
        decision_line=None,
        policy_version=imaging_policy,
        policy_number="IM.02",
        policy_title="Imaging before spine procedures",
        payer=own.payer,
        version_label=imaging_policy.version_label,
        effective_start=imaging_policy.effective_start,
        coverage_position=imaging_policy.coverage_position,
        criterion="Imaging within 12 months is required.",
        content_sha256=imaging_policy.content_sha256,
    )
    approved, denied_a, denied_b = letter_of(decision, physician).lines
    assert [c.policy_number for c in approved.citations] == []
    assert [c.policy_number for c in denied_a.citations] == ["FJ.01", "IM.02"]
    assert [c.policy_number for c in denied_b.citations] == ["FJ.01", "IM.02"]


def test_a_line_of_business_criterion_reads_as_a_sentence_naming_the_plans(integration_client, physician, facet_policy):
    """NCQA UM 7 (a reason the member can understand): the policy engine's
    "Lines of business: commercial, exchange" becomes a sentence with the plans' names."""
    case = request(integration_client)
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(
                service_line=1,
                outcome="denied",
                reason="The policy covers this service only for some plans.",
                citations=cite(facet_policy, "Lines of business: commercial, exchange"),
            )
        ],
        citations=[],
    )
    (line,) = letter_of(decision, physician).lines
    assert [c.criterion for c in line.citations] == [
        "This policy applies to Commercial and Exchange (ACA marketplace) plans."
    ]


def test_a_coverage_position_is_shown_by_its_label(integration_client, physician, editor):
    """NCQA UM 7: the letter names the policy's position in words, not its stored code."""
    policy = factories.policy(number="DS.01", title="Dynamic stabilization", lines_of_business=["commercial"])
    version = factories.publish(
        factories.draft_version(policy, coverage_position="experimental_investigational"), editor
    )
    decision = deny(request(integration_client), physician, version)
    (line,) = letter_of(decision, physician).lines
    assert [c.coverage_position for c in line.citations] == ["Experimental/investigational"]


# --- the right to appeal an initial adverse decision ----------------------------------------


@pytest.mark.parametrize(
    ("line_of_business", "days"),
    [("commercial", 180), ("exchange", 180), ("medicare_advantage", 65), ("medicaid", 60), ("chip", 60)],
)
def test_an_adverse_letter_states_the_appeal_window_and_its_last_day(
    integration_client, physician, facet_policy, line_of_business, days
):
    """29 CFR 2560.503-1(g)(1)(iv), (h)(3)(i); 42 CFR 422.568(e), 422.582(b); 42 CFR 438.404(b),
    438.402(c)(2)(ii): the notice states the right to appeal and how long the member has."""
    decision = deny(request(integration_client, line_of_business=line_of_business), physician, facet_policy)
    letter = letter_of(decision, physician)
    last_day = timezone.localdate(decision.decided_at) + timedelta(days=days)
    assert letter.appeal is not None
    assert (letter.appeal.days, letter.appeal.last_day) == (days, last_day)
    assert f"within {days} days of the date of this decision, that is by {letters.day_text(last_day)}" in (
        rights_text(letter)
    )


def test_the_appeal_window_is_the_one_a_manager_set(integration_client, physician, facet_policy):
    """29 CFR 2560.503-1(h)(3)(i) ("at least 180 days"): a plan may allow longer; the letter
    states the window the plan set (AppealWindow), with its source."""
    AppealWindow.objects.filter(line_of_business="commercial").update(days=200, source="Plan document, section 9")
    decision = deny(request(integration_client), physician, facet_policy)
    text = rights_text(letter_of(decision, physician))
    assert "within 200 days" in text
    assert "(Plan document, section 9)" in text


def test_an_approval_letter_states_no_appeal_rights(integration_client, physician, facet_policy):
    """42 CFR 422.568(e); 29 CFR 2560.503-1(g): appeal rights belong to an adverse notice."""
    decision = decision_record(
        case_id=request(integration_client).pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    letter = letter_of(decision, physician)
    assert (letter.appeal, letter.rights_heading, rights_text(letter)) == (None, "", "")


def test_a_letter_is_not_produced_without_an_appeal_window(integration_client, physician, facet_policy):
    """42 CFR 438.404(b)(3): an adverse notice must state the appeal rights, so a letter whose
    line of business has no window refuses rather than going out without them."""
    decision = deny(request(integration_client, line_of_business="medicaid"), physician, facet_policy)
    AppealWindow.objects.filter(line_of_business="medicaid").delete()
    found = letters.decision_for_letter(physician, decision.case.case_number, decision.pk)
    assert found is not None
    with pytest.raises(Exception, match="no appeal window is set for Medicaid"):
        letters.letter_build(found, "member")


# --- appeal letters -------------------------------------------------------------------------


def test_an_appeal_letter_gives_each_appealed_line_its_outcome_in_plain_words(
    integration_client, physician, appeal_physician, facet_policy
):
    """42 CFR 422.590(g); 29 CFR 2560.503-1(j): the notice of an appeal decision states the
    outcome of each appealed service."""
    case = request(integration_client, units=(1, 4, 1))
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=n, outcome="denied", reason="No blocks.", citations=cite(facet_policy))
            for n in (1, 2, 3)
        ],
        citations=[],
    )
    appeal_case = appeal(case, integration_client, [1, 2, 3])
    decision = decision_record(
        case_id=appeal_case.pk,
        user=appeal_physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="overturned"),
            DecisionLineInput(
                service_line=2,
                outcome="partially_overturned",
                approved_units=2,
                reason="Two sessions are supported.",
                citations=cite(facet_policy),
            ),
            DecisionLineInput(
                service_line=3, outcome="upheld", reason="Still no blocks.", citations=cite(facet_policy)
            ),
        ],
        citations=[],
    )
    assert [line.outcome_text for line in letter_of(decision, physician).lines] == [
        "Overturned: we changed our decision and approve this service in full",
        "Partially overturned: we changed our decision in part; we now approve 2 of the 4 units asked for",
        "Upheld: we kept our earlier decision on this service",
    ]


def test_an_upheld_line_gives_its_reason_and_citations(integration_client, physician, appeal_physician, facet_policy):
    """42 CFR 422.590(g)(2); 29 CFR 2560.503-1(j)(2), (3); 45 CFR 147.136(b): an appeal that
    keeps a denial gives the specific reason and the criterion relied on."""
    case = request(integration_client)
    deny(case, physician, facet_policy)
    decision = uphold(appeal(case, integration_client, [1]), appeal_physician, facet_policy, "Blocks gave 40% relief.")
    (line,) = letter_of(decision, physician).lines
    assert line.reason == "Blocks gave 40% relief."
    assert [(c.policy_number, c.criterion) for c in line.citations] == [
        ("FJ.01", "Denervation is covered after two diagnostic blocks with at least 80% relief.")
    ]


def test_an_appeal_letter_names_the_decision_it_reconsidered(
    integration_client, physician, appeal_physician, facet_policy
):
    """42 CFR 422.590(g): the notice identifies the determination that was reconsidered."""
    case = request(integration_client)
    first = deny(case, physician, facet_policy)
    appeal_case = appeal(case, integration_client, [1])
    letter = letter_of(uphold(appeal_case, appeal_physician, facet_policy), physician)
    assert letter.title == f"Appeal decision {appeal_case.case_number}"
    assert (
        f"You asked us to look again at our decision of {letters.day_text(timezone.localdate(first.decided_at))} "
        f"on request {case.case_number} (appeal {appeal_case.case_number}"
    ) in opening_text(letter)
    assert letter.appeal is None


@pytest.mark.parametrize("line_of_business", ["commercial", "exchange"])
def test_an_upheld_commercial_appeal_offers_external_review_within_4_months(
    integration_client, physician, appeal_physician, facet_policy, line_of_business
):
    """45 CFR 147.136(c)(2)(iv), (d)(2)(i); 29 CFR 2560.503-1(j)(4): after the internal appeal,
    an external review by an independent review organization, requested within 4 months."""
    case = request(integration_client, line_of_business=line_of_business)
    deny(case, physician, facet_policy)
    decision = uphold(appeal(case, integration_client, [1]), appeal_physician, facet_policy)
    letter = letter_of(decision, physician)
    last_day = letters.add_months(timezone.localdate(decision.decided_at), 4)
    assert letter.rights_heading == "Your right to an independent external review"
    assert (
        "you may ask for an external review by an independent review organization. It must be asked for "
        f"within 4 months of the date of this notice, that is by {letters.day_text(last_day)} "
        "(45 CFR 147.136(c), (d))."
    ) in rights_text(letter)


def test_an_upheld_medicare_advantage_appeal_says_it_went_to_the_ire_and_when(
    integration_client, physician, appeal_physician, facet_policy
):
    """42 CFR 422.590(a)(2), 422.592: a reconsideration that keeps a denial goes to the
    Independent Review Entity automatically, and the member is told so."""
    case = request(integration_client, line_of_business="medicare_advantage")
    deny(case, physician, facet_policy)
    appeal_case = appeal(case, integration_client, [1])
    decision = uphold(appeal_case, appeal_physician, facet_policy)
    forwarded = CaseEvent.objects.get(case=appeal_case, kind=CaseEventKind.FORWARDED_TO_IRE)
    letter = letter_of(decision, physician)
    text = rights_text(letter)
    assert letter.rights_heading == "What happens next: review by the Independent Review Entity"
    assert (
        f"We sent the case file to the Independent Review Entity on {letters.day_text(timezone.localdate(forwarded.at))} "
        "(42 CFR 422.592)."
    ) in text
    assert "Nothing needs to be done to ask for this review." in text


@pytest.mark.parametrize(
    ("line_of_business", "heading", "review"),
    [
        ("medicaid", "Your right to a State fair hearing", "a State fair hearing"),
        ("chip", "Your right to a State review", "a State review"),
    ],
)
def test_an_upheld_medicaid_appeal_offers_a_state_fair_hearing_within_120_days(
    integration_client, physician, appeal_physician, facet_policy, line_of_business, heading, review
):
    """42 CFR 438.408(e)(2), (f)(2); CHIP: 42 CFR 457.1260: the resolution notice states the
    right to a State fair hearing (for CHIP, the State review), requested within 120 days."""
    case = request(integration_client, line_of_business=line_of_business)
    deny(case, physician, facet_policy)
    decision = uphold(appeal(case, integration_client, [1]), appeal_physician, facet_policy)
    letter = letter_of(decision, physician)
    last_day = timezone.localdate(decision.decided_at) + timedelta(days=120)
    assert letter.rights_heading == heading
    assert (
        f"you may ask for {review}. It must be asked for within 120 days of the date of this notice, "
        f"that is by {letters.day_text(last_day)} (42 CFR 438.408(f)"
    ) in rights_text(letter)


def test_an_upheld_fep_appeal_offers_review_by_opm_within_90_days(
    integration_client, physician, appeal_physician, facet_policy
):
    """5 CFR 890.105(e): when the carrier keeps its decision on reconsideration, the member may
    ask the Office of Personnel Management to review it within 90 days."""
    case = request(integration_client, line_of_business="fep")
    deny(case, physician, facet_policy)
    decision = uphold(appeal(case, integration_client, [1]), appeal_physician, facet_policy)
    letter = letter_of(decision, physician)
    last_day = timezone.localdate(decision.decided_at) + timedelta(days=90)
    assert letter.rights_heading == "Your right to a review by the U.S. Office of Personnel Management"
    assert (
        "you may ask for a review by the U.S. Office of Personnel Management (OPM). It must be asked for "
        f"within 90 days of the date of this notice, that is by {letters.day_text(last_day)} (5 CFR 890.105(e))."
    ) in rights_text(letter)


def test_a_fully_overturned_appeal_offers_no_further_review(
    integration_client, physician, appeal_physician, facet_policy
):
    """42 CFR 422.592 (only a decision kept in whole or part goes to the IRE); 45 CFR 147.136(c)
    (external review is of an adverse determination): nothing is left to review."""
    case = request(integration_client, line_of_business="medicare_advantage")
    deny(case, physician, facet_policy)
    appeal_case = appeal(case, integration_client, [1])
    decision = decision_record(
        case_id=appeal_case.pk,
        user=appeal_physician,
        lines=[DecisionLineInput(service_line=1, outcome="overturned")],
        citations=[],
    )
    letter = letter_of(decision, physician)
    assert (letter.further_review, letter.rights_heading, rights_text(letter)) == (None, "", "")


# --- reopenings -----------------------------------------------------------------------------


def test_a_decision_after_a_reopening_says_which_decision_it_replaces(
    integration_client, physician, manager, facet_policy
):
    """42 CFR 422.616 (a reopened determination is revised by a new one), 422.568(e): the new
    decision gets its own notice naming the decision it replaces."""
    case = request(integration_client)
    first = deny(case, physician, facet_policy)
    case_reopen(case_id=case.pk, user=manager, reason="The blocks' report was filed under another member.")
    second = decision_record(
        case_id=case.pk, user=physician, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    letter = letter_of(second, physician)
    assert letter.replaces_decision_date == timezone.localdate(first.decided_at)
    assert (
        "We reopened this request and reviewed it again. This decision replaces our earlier decision of "
        f"{letters.day_text(timezone.localdate(first.decided_at))} on this request"
    ) in opening_text(letter)


def test_the_replaced_decision_keeps_its_own_letter(integration_client, physician, manager, facet_policy):
    """DOMAIN "Decisions" (a decision is never edited; a new one supersedes it): the first
    decision's letter still says what it said."""
    case = request(integration_client)
    first = deny(case, physician, facet_policy, reason="No blocks.")
    before = letters.letter_paragraphs(letter_of(first, physician))
    case_reopen(case_id=case.pk, user=manager, reason="New imaging arrived.")
    decision_record(
        case_id=case.pk, user=physician, lines=[DecisionLineInput(service_line=1, outcome="approved")], citations=[]
    )
    letter = letter_of(first, physician)
    assert letters.letter_paragraphs(letter) == before
    assert [line.outcome_text for line in letter.lines] == ["Not approved"]


def test_a_corrected_decision_says_which_decision_it_replaces(integration_client, physician, facet_policy):
    """DOMAIN "Decisions" (a correction is a new decision that supersedes the old); 42 CFR
    422.568(e): the corrected decision gets its own notice naming the one it replaces."""
    case = request(integration_client)
    first = deny(case, physician, facet_policy)
    corrected = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
        correction=True,
    )
    assert (
        "We corrected our decision. This decision replaces our earlier decision of "
        f"{letters.day_text(timezone.localdate(first.decided_at))} on this request"
    ) in opening_text(letter_of(corrected, physician))


def test_a_decision_after_a_pend_replaces_nothing(integration_client, physician, facet_policy):
    """42 CFR 422.568(e): a pend is no determination, so the decision that follows it is the
    first one the member is told of."""
    case = request(integration_client)
    decision_record(
        case_id=case.pk, user=physician, lines=[DecisionLineInput(service_line=1, outcome="pended")], citations=[]
    )
    case.refresh_from_db()
    decision = deny(case, physician, facet_policy)
    letter = letter_of(decision, physician)
    assert letter.replaces_decision_date is None
    assert "replaces" not in opening_text(letter)


# --- the PDF and the dates ------------------------------------------------------------------


def test_an_appeal_letter_pdf_builds(integration_client, physician, appeal_physician, facet_policy):
    """The PDF says what the page says: the same letter, built from the same data."""
    case = request(integration_client)
    deny(case, physician, facet_policy)
    decision = uphold(appeal(case, integration_client, [1]), appeal_physician, facet_policy)
    pdf = letters.letter_pdf(letter_of(decision, physician, "provider"))
    assert pdf.startswith(b"%PDF")
    text = " ".join(" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)
    assert "FJ.01" in text
    assert "Your right to an independent external review" in text


@pytest.mark.parametrize(
    ("day", "later"),
    [
        (date(2026, 10, 31), date(2027, 2, 28)),
        (date(2027, 10, 31), date(2028, 2, 29)),
        (date(2026, 1, 15), date(2026, 5, 15)),
    ],
)
def test_four_months_later_is_the_same_day_or_the_months_last(day, later):
    """45 CFR 147.136(d)(2)(i): four months after the notice, counted by calendar months."""
    assert letters.add_months(day, 4) == later
