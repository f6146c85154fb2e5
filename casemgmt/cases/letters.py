"""Decision letters for the member and the requesting provider, as a page and as a PDF.

A letter is built only from what the decision froze: its lines and reasons, and the Citation
rows of each line (policy number, title and version as they were when the decision was made).
Live policy data is never read here, so editing a policy cannot change a letter already sent.

Every decision gets its own letter: an appeal's decision, and the decision made after a
reopening or a correction, which says which earlier decision it replaces. No letter is
rewritten when a later decision comes.

People read labels and sentences, never the codes the system stores: outcomes, lines of
business, coverage positions and roles are shown by their labels or in plain words (NCQA UM 7:
a denial notice gives the specific reason in language the member can understand).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.utils import timezone

from casemgmt.cases.letter_taglines import Taglines, taglines_for
from casemgmt.cases.models import (
    ADVERSE_OUTCOMES,
    Case,
    CaseEventKind,
    Citation,
    Decision,
    DecisionLine,
    LineOutcome,
)
from casemgmt.cases.selectors import cases_visible_to
from casemgmt.cases.services.appeals import appeal_window
from policies_app.models import CoveragePosition, LineOfBusiness

RECIPIENTS = ("member", "provider")


@dataclass(frozen=True)
class AppealRule:
    """How fast an expedited appeal is decided, and what follows if the plan keeps its decision.

    The filing window itself is data (AppealWindow, edited by managers); this is the wording
    beside it, kept in code because a change here is a change in what members are told.
    """

    expedited_hours: int
    expedited_source: str
    next_step: str


_COMMERCIAL = AppealRule(
    expedited_hours=72,
    expedited_source="29 CFR 2560.503-1(i)(2)(i)",
    next_step="If we keep our decision after the appeal, an independent external review may be requested.",
)

APPEAL_RULES: dict[str, AppealRule] = {
    LineOfBusiness.COMMERCIAL: _COMMERCIAL,
    # Marketplace plans follow the same internal-appeal rule (45 CFR 147.136(b) incorporates it).
    LineOfBusiness.EXCHANGE: _COMMERCIAL,
    LineOfBusiness.MEDICARE_ADVANTAGE: AppealRule(
        expedited_hours=72,
        expedited_source="42 CFR 422.584; 42 CFR 422.590(e)",
        next_step="If we keep our decision, the appeal goes automatically to an Independent Review Entity.",
    ),
    LineOfBusiness.MEDICAID: AppealRule(
        expedited_hours=72,
        expedited_source="42 CFR 438.410; 42 CFR 438.408(b)(3)",
        next_step="If we keep our decision after the appeal, a State fair hearing may be requested.",
    ),
    # FEHB carriers reconsider first; OPM reviews a reconsideration the carrier keeps.
    LineOfBusiness.FEP: AppealRule(
        expedited_hours=72,
        expedited_source="5 CFR 890.105",
        next_step=(
            "If we keep our decision after reconsidering it, the U.S. Office of Personnel Management"
            " (OPM) may be asked to review it."
        ),
    ),
    # CHIP managed care follows the Medicaid appeal rules (42 CFR 457.1260).
    LineOfBusiness.CHIP: AppealRule(
        expedited_hours=72,
        expedited_source="42 CFR 457.1260; 42 CFR 438.410",
        next_step="If we keep our decision after the appeal, a State review may be requested.",
    ),
}


@dataclass(frozen=True)
class AppealRights:
    """An initial adverse decision's appeal: the window for the line of business, to the day."""

    days: int
    last_day: date
    source: str
    expedited_hours: int
    expedited_source: str
    next_step: str


@dataclass(frozen=True)
class FurtherReview:
    """What follows when an appeal keeps an adverse decision in whole or part.

    Commercial and exchange: external review by an independent review organization, requested
    within 4 months (45 CFR 147.136(c), (d)). Medicare Advantage: the plan forwards the case to
    the Independent Review Entity itself (42 CFR 422.592). Medicaid: a State fair hearing,
    requested within 120 days (42 CFR 438.408(f)); CHIP: the State review that takes its place
    (42 CFR 457.1260). Federal Employee Program: a review by the Office of Personnel Management,
    requested within 90 days of the carrier's reconsidered decision (5 CFR 890.105(e)).
    """

    heading: str
    automatic: bool
    name: str
    period: str
    last_day: date | None
    source: str
    forwarded_on: date | None = None


# The plain words for each outcome; an appeal's outcomes say what became of the first decision.
PLAIN_OUTCOMES = {
    LineOutcome.APPROVED: "Approved",
    LineOutcome.PARTIALLY_APPROVED: "Partly approved",
    LineOutcome.DENIED: "Not approved",
    LineOutcome.MODIFIED: "Approved with changes",
    LineOutcome.PENDED: "Waiting for more information",
    LineOutcome.REFERRED: "Still under review by a physician; we will write to you with the decision",
    LineOutcome.OVERTURNED: "Overturned: we changed our decision and approve this service in full",
    LineOutcome.PARTIALLY_OVERTURNED: "Partially overturned: we changed our decision in part",
    LineOutcome.UPHELD: "Upheld: we kept our earlier decision on this service",
    LineOutcome.NOT_REQUIRED: "No prior authorization is needed for this service",
    LineOutcome.NOTIFIED: "Notification received: no prior authorization is needed for this service",
}

EXTERNAL_REVIEW_MONTHS = 4
FAIR_HEARING_DAYS = 120
OPM_REVIEW_DAYS = 90


@dataclass(frozen=True)
class LetterCitation:
    policy_number: str
    policy_title: str
    payer: str
    version_label: str
    effective_start: date | None
    effective_end: date | None
    coverage_position: str
    criterion: str

    @property
    def reference(self) -> str:
        return f"Policy {self.policy_number} “{self.policy_title}”, version {self.version_label}"

    @property
    def in_effect(self) -> str:
        start = day_text(self.effective_start) if self.effective_start else "an unrecorded date"
        if self.effective_end:
            return f"in effect from {start} to {day_text(self.effective_end)}"
        return f"in effect from {start} until replaced"


@dataclass(frozen=True)
class LetterLine:
    sequence: int
    service: str
    date_of_service: date
    units_requested: int
    outcome: str
    outcome_text: str
    approved_units: int | None
    reason: str
    adverse: bool
    citations: tuple[LetterCitation, ...]


@dataclass(frozen=True)
class Letter:
    recipient: str
    case_number: str
    decision_id: int
    decision_date: date
    line_of_business: str
    member_name: str
    member_id: str
    member_birth_date: date | None
    provider_name: str
    provider_npi: str
    reviewer_name: str
    reviewer_role: str
    expedited: bool
    lines: tuple[LetterLine, ...]
    # An initial adverse decision: the right to appeal.
    appeal: AppealRights | None
    # An appeal's decision: the case and decision it reconsidered, and what may follow.
    is_appeal: bool = False
    appealed_case_number: str = ""
    appealed_decision_date: date | None = None
    appeal_requested_by: str = ""
    further_review: FurtherReview | None = None
    # A decision that replaces an earlier one on the same case (after a reopening or a correction).
    replaces_decision_date: date | None = None
    reopened: bool = False
    # The member's notice of free language assistance, where the line of business requires one.
    taglines: Taglines | None = None

    @property
    def adverse(self) -> bool:
        return any(line.adverse for line in self.lines)

    @property
    def to_member(self) -> bool:
        return self.recipient == "member"

    @property
    def addressee(self) -> str:
        return self.member_name if self.to_member else self.provider_name

    @property
    def title(self) -> str:
        kind = "Appeal decision" if self.is_appeal else "Prior authorization decision"
        return f"{kind} {self.case_number}"

    @property
    def cited(self) -> bool:
        return any(line.citations for line in self.lines)

    @property
    def rights_heading(self) -> str:
        if self.further_review is not None:
            return self.further_review.heading
        return "Your right to appeal" if self.appeal is not None else ""


def decision_for_letter(user: User | AnonymousUser, case_number: str, decision_id: int) -> Decision | None:
    """The decision with everything its letter needs, if the user may see its case."""
    return (
        Decision.objects.filter(pk=decision_id, case__in=cases_visible_to(user), case__case_number=case_number)
        .select_related("case", "case__appeal_of", "decided_by", "supersedes")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=DecisionLine.objects.select_related("service_line").prefetch_related(
                    Prefetch("citations", queryset=Citation.objects.order_by("id"))
                ),
            ),
            Prefetch(
                "citations",
                queryset=Citation.objects.filter(decision_line__isnull=True).order_by("id"),
                to_attr="whole_decision_citations",
            ),
        )
        .first()
    )


def day_text(day: date) -> str:
    """A date as a member reads it: March 3, 2026."""
    return f"{day:%B} {day.day}, {day.year}"


def born_text(day: date | None) -> str:
    return "date of birth not given" if day is None else day_text(day)


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day where it has no such day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def plain_list(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def position_text(value: str) -> str:
    """A coverage position's label; nothing where the policy team has not set one."""
    if not value or value == CoveragePosition.UNDETERMINED:
        return ""
    return str(CoveragePosition(value).label) if value in CoveragePosition.values else value.replace("_", " ")


# The policy engine cites a line-of-business exclusion as "Lines of business: commercial,
# exchange"; a reviewer may keep that wording as the criterion of a citation.
_LINES_OF_BUSINESS_CRITERION = re.compile(r"\s*Lines of business:(?P<values>[^\n]*)", re.IGNORECASE)


def criterion_text(criterion: str) -> str:
    """The criterion as a member can read it: the engine's list of line-of-business codes
    becomes a sentence naming the plans the policy applies to."""
    match = _LINES_OF_BUSINESS_CRITERION.fullmatch(criterion)
    if match is None:
        return criterion
    values = {value.strip() for value in match["values"].split(",") if value.strip()}
    if not values:
        return "This policy does not name the plans it applies to."
    known = [str(lob.label) for lob in LineOfBusiness if lob.value in values]
    unknown = sorted(value.replace("_", " ") for value in values - set(LineOfBusiness.values))
    return f"This policy applies to {plain_list(known + unknown)} plans."


def _letter_citation(citation: Citation) -> LetterCitation:
    return LetterCitation(
        policy_number=citation.policy_number,
        policy_title=citation.policy_title,
        payer=citation.payer,
        version_label=citation.version_label,
        effective_start=citation.effective_start,
        effective_end=citation.effective_end,
        coverage_position=position_text(citation.coverage_position),
        criterion=criterion_text(citation.criterion),
    )


def _outcome_text(decision_line: DecisionLine) -> str:
    outcome = decision_line.outcome
    text = PLAIN_OUTCOMES.get(LineOutcome(outcome), str(LineOutcome(outcome).label))
    units, requested = decision_line.approved_units, decision_line.service_line.units
    if units is None:
        return text
    if outcome in (LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED):
        return f"{text}: {units} of {requested} units approved"
    if outcome == LineOutcome.PARTIALLY_OVERTURNED:
        return f"{text}; we now approve {units} of the {requested} units asked for"
    return text


def _letter_lines(decision: Decision) -> tuple[LetterLine, ...]:
    decision_lines = list(decision.lines.all())
    # Citations recorded before they were per line apply to the whole decision: to every adverse
    # line, or to every line of a decision with none (as decision_record applies them).
    whole: list[Citation] | None = getattr(decision, "whole_decision_citations", None)
    if whole is None:
        whole = list(decision.citations.filter(decision_line__isnull=True).order_by("id"))
    any_adverse = any(dl.outcome in ADVERSE_OUTCOMES for dl in decision_lines)
    lines = []
    for dl in sorted(decision_lines, key=lambda x: x.service_line.sequence):
        sl = dl.service_line
        adverse = dl.outcome in ADVERSE_OUTCOMES
        cited = list(dl.citations.all())
        if adverse or not any_adverse:
            cited += whole
        lines.append(
            LetterLine(
                sequence=sl.sequence,
                service=" ".join(filter(None, [sl.code_system, sl.code, sl.description and f"({sl.description})"])),
                date_of_service=sl.date_of_service,
                units_requested=sl.units,
                outcome=dl.outcome,
                outcome_text=_outcome_text(dl),
                approved_units=dl.approved_units,
                # A referred line's reason is the reviewer's note to the physician, not for the letter.
                reason="" if dl.outcome == LineOutcome.REFERRED else dl.reason,
                adverse=adverse,
                citations=tuple(dict.fromkeys(_letter_citation(c) for c in cited)),
            )
        )
    return tuple(lines)


def _appeal_rights(case: Case, decided_on: date) -> AppealRights:
    window = appeal_window(case.line_of_business)
    rule = APPEAL_RULES.get(case.line_of_business, _COMMERCIAL)
    return AppealRights(
        days=window.days,
        # The last day appeal_open accepts without a late-filing reason.
        last_day=decided_on + timedelta(days=window.days),
        source=window.source,
        expedited_hours=rule.expedited_hours,
        expedited_source=rule.expedited_source,
        next_step=rule.next_step,
    )


def _ire_forwarded_at(appeal: Case, decision: Decision) -> datetime | None:
    for event in appeal.events.filter(kind=CaseEventKind.FORWARDED_TO_IRE).order_by("at", "id"):
        if event.detail.get("decision") == decision.pk:
            return event.at
    return None


def _further_review(appeal: Case, decision: Decision, decided_on: date) -> FurtherReview:
    lob = appeal.line_of_business
    if lob == LineOfBusiness.MEDICARE_ADVANTAGE:
        forwarded_at = _ire_forwarded_at(appeal, decision)
        return FurtherReview(
            heading="What happens next: review by the Independent Review Entity",
            automatic=True,
            name="the Independent Review Entity",
            period="",
            last_day=None,
            source="42 CFR 422.592",
            forwarded_on=timezone.localdate(forwarded_at) if forwarded_at else None,
        )
    if lob in (LineOfBusiness.MEDICAID, LineOfBusiness.CHIP):
        chip = lob == LineOfBusiness.CHIP
        return FurtherReview(
            heading="Your right to a State review" if chip else "Your right to a State fair hearing",
            automatic=False,
            name="a State review" if chip else "a State fair hearing",
            period=f"{FAIR_HEARING_DAYS} days",
            last_day=decided_on + timedelta(days=FAIR_HEARING_DAYS),
            source="42 CFR 438.408(f); 42 CFR 457.1260" if chip else "42 CFR 438.408(f)",
        )
    if lob == LineOfBusiness.FEP:
        return FurtherReview(
            heading="Your right to a review by the U.S. Office of Personnel Management",
            automatic=False,
            name="a review by the U.S. Office of Personnel Management (OPM)",
            period=f"{OPM_REVIEW_DAYS} days",
            last_day=decided_on + timedelta(days=OPM_REVIEW_DAYS),
            source="5 CFR 890.105(e)",
        )
    return FurtherReview(
        heading="Your right to an independent external review",
        automatic=False,
        name="an external review by an independent review organization",
        period=f"{EXTERNAL_REVIEW_MONTHS} months",
        last_day=add_months(decided_on, EXTERNAL_REVIEW_MONTHS),
        source="45 CFR 147.136(c), (d)",
    )


def _appealed_decision_date(appeal: Case) -> date | None:
    """The date of the decision the appeal reconsidered, as the appeal's filing recorded it."""
    original = appeal.appeal_of
    if original is None:
        return None
    for event in original.events.filter(kind=CaseEventKind.APPEALED).order_by("-at", "-id"):
        if event.detail.get("appeal") == appeal.case_number:
            decided = Decision.objects.filter(pk=event.detail.get("decision")).first()
            return timezone.localdate(decided.decided_at) if decided else None
    return None


def _reopened_between(case: Case, replaced: Decision, decision: Decision) -> bool:
    return case.events.filter(
        kind=CaseEventKind.REOPENED, at__gte=replaced.decided_at, at__lte=decision.decided_at
    ).exists()


def letter_build(decision: Decision, recipient: str) -> Letter:
    """The letter of one decision for the member or the provider.

    Raises ConfigurationError (casemgmt.cases.services.deadlines) when an adverse initial
    decision's line of business has no appeal window: a letter never goes out without its
    appeal rights.
    """
    case = decision.case
    lines = _letter_lines(decision)
    decided_on = timezone.localdate(decision.decided_at)
    reviewer = decision.decided_by
    adverse = any(line.adverse for line in lines)
    # A pended decision replaced by a determination is no decision the member was told of as final.
    replaced = decision.supersedes
    # Nor is one that referred a line to a physician: the next decision completes it, restating what it decided.
    replaces = replaced is not None and not any(
        dl.outcome in (LineOutcome.PENDED, LineOutcome.REFERRED) for dl in replaced.lines.all()
    )
    return Letter(
        recipient=recipient,
        case_number=case.case_number,
        decision_id=decision.pk,
        decision_date=decided_on,
        line_of_business=case.get_line_of_business_display(),
        member_name=f"{case.member_first_name} {case.member_last_name}",
        member_id=case.member_id,
        member_birth_date=case.member_birth_date,
        provider_name=case.requesting_provider_name,
        provider_npi=case.requesting_provider_npi,
        reviewer_name=reviewer.get_full_name() or reviewer.get_username(),
        reviewer_role=decision.get_decided_role_display(),
        expedited=case.urgency == "expedited",
        lines=lines,
        appeal=_appeal_rights(case, decided_on) if adverse and not case.is_appeal else None,
        is_appeal=case.is_appeal,
        appealed_case_number=case.appeal_of.case_number if case.appeal_of is not None else "",
        appealed_decision_date=_appealed_decision_date(case) if case.is_appeal else None,
        appeal_requested_by=case.get_appeal_requested_by_display().lower() if case.is_appeal else "",
        further_review=_further_review(case, decision, decided_on) if adverse and case.is_appeal else None,
        replaces_decision_date=timezone.localdate(replaced.decided_at) if replaced is not None and replaces else None,
        reopened=replaced is not None and replaces and _reopened_between(case, replaced, decision),
        taglines=taglines_for(case.line_of_business) if recipient == "member" else None,
    )


# --- the page and the PDF: one template -------------------------------------------------------

# The letter is templates/letters/letter.html. The PDF is laid out from this whole document around
# it; the web page wraps the same template in the site's layout (templates/workspace/letter.html).
DOCUMENT_TEMPLATE = "letters/document.html"
# The letter's stylesheet, linked by the web page and applied to the PDF.
LETTER_STYLESHEET = "css/letter.css"


def letter_context(letter: Letter) -> dict[str, object]:
    """What templates/letters/letter.html reads: the letter, its fixed wording and its taglines."""
    return {
        "letter": letter,
        "text": letter_paragraphs(letter),
        "policy_copy": POLICY_COPY,
        "taglines": letter.taglines,
    }


def letter_html(letter: Letter) -> str:
    """The letter as a standalone HTML document: what the PDF is laid out from."""
    return render_to_string(DOCUMENT_TEMPLATE, letter_context(letter))


def _stylesheet_path() -> str:
    path = finders.find(LETTER_STYLESHEET)
    if not isinstance(path, str):
        raise ImproperlyConfigured(f"the letter stylesheet static/{LETTER_STYLESHEET} is missing")
    return path


def letter_pdf(letter: Letter) -> bytes:
    """The letter as a PDF, laid out by WeasyPrint from the template the web page shows."""
    # Imported here: WeasyPrint loads Pango through cffi, which only the letter needs.
    from weasyprint import CSS, HTML
    from weasyprint.urls import URLFetcher

    # The letter loads no image, font or stylesheet from a URL: no protocol is allowed, so text a
    # reviewer typed can never make the server fetch anything.
    no_fetching = URLFetcher(allowed_protocols=frozenset())
    document = HTML(string=letter_html(letter), url_fetcher=no_fetching)
    pdf = document.write_pdf(stylesheets=[CSS(filename=_stylesheet_path(), url_fetcher=no_fetching)])
    assert pdf is not None
    return pdf


POLICY_COPY = "You may ask us for a free copy of this policy and of the criteria we used."


def _opening(letter: Letter) -> list[str]:
    opening = _appeal_opening(letter) if letter.is_appeal else _request_opening(letter)
    if letter.replaces_decision_date is not None:
        earlier = day_text(letter.replaces_decision_date)
        how = "We reopened this request and reviewed it again." if letter.reopened else "We corrected our decision."
        opening.append(
            f"{how} This decision replaces our earlier decision of {earlier} on this request; "
            "that earlier decision no longer applies."
        )
    return opening


def _appeal_opening(letter: Letter) -> list[str]:
    decided = day_text(letter.decision_date)
    of_decision = (
        f"our decision of {day_text(letter.appealed_decision_date)}"
        if letter.appealed_decision_date
        else "our decision"
    )
    if letter.to_member:
        who = "You" if letter.appeal_requested_by == "member" else letter.provider_name
        return [
            f"Dear {letter.member_name},",
            f"{who} asked us to look again at {of_decision} on request {letter.appealed_case_number} "
            f"(appeal {letter.case_number}, member ID {letter.member_id}). A physician reviewer who took no "
            f"part in that decision reviewed the appeal and made the decision below on {decided}.",
        ]
    return [
        f"Dear {letter.provider_name} (NPI {letter.provider_npi}),",
        f"The {letter.appeal_requested_by or 'requester'} appealed {of_decision} on request "
        f"{letter.appealed_case_number} for {letter.member_name} (member ID {letter.member_id}, born "
        f"{born_text(letter.member_birth_date)}); the appeal is {letter.case_number}. The decision below "
        f"was made on {decided} by {letter.reviewer_name}, {letter.reviewer_role.lower()}, who took no "
        "part in the decision under appeal.",
    ]


def _request_opening(letter: Letter) -> list[str]:
    decided = day_text(letter.decision_date)
    if letter.to_member:
        return [
            f"Dear {letter.member_name},",
            f"{letter.provider_name} asked us to approve care for you before you receive it "
            f"(request {letter.case_number}, member ID {letter.member_id}). "
            f"We reviewed the request and made the decision below on {decided}.",
        ]
    opening = [
        f"Dear {letter.provider_name} (NPI {letter.provider_npi}),",
        f"We reviewed your prior authorization request {letter.case_number} for "
        f"{letter.member_name} (member ID {letter.member_id}, born {born_text(letter.member_birth_date)}). "
        f"The decision below was made on {decided} by {letter.reviewer_name}, "
        f"{letter.reviewer_role.lower()}.",
    ]
    if letter.adverse:
        opening.append(
            "You may ask to discuss this decision with the physician reviewer (a peer-to-peer "
            "discussion) by calling our utilization management department."
        )
    return opening


def _appeal_paragraphs(letter: Letter, rights: AppealRights) -> list[str]:
    you = "You" if letter.to_member else "The member"
    whose = "your" if letter.to_member else "the member's"
    return [
        f"{you} may ask us to look at this decision again (an appeal). "
        f"{you} must ask within {rights.days} days of the date of this decision, that is by "
        f"{day_text(rights.last_day)} ({rights.source}).",
        "To appeal, call or write to us. Give the request number "
        f"{letter.case_number}, say what you disagree with, and send any medical records or a letter "
        "from the doctor that support the request. "
        + (
            "Your doctor, or someone you name in writing, may appeal for you."
            if letter.to_member
            else "The member's doctor, or someone the member names in writing, may appeal on the member's behalf."
        ),
        f"Expedited (fast) appeal: if waiting for a standard appeal could seriously harm {whose} life, "
        "health or ability to regain maximum function, ask for an expedited appeal. We will decide it "
        f"within {rights.expedited_hours} hours ({rights.expedited_source}).",
        "A different person who was not involved in this decision will review the appeal. " + rights.next_step,
    ]


def _further_review_paragraphs(letter: Letter, review: FurtherReview) -> list[str]:
    you = "you" if letter.to_member else "the member"
    if review.automatic:
        sent = (
            f"We sent the case file to the Independent Review Entity on {day_text(review.forwarded_on)}"
            if review.forwarded_on
            else "We are sending the case file to the Independent Review Entity"
        )
        return [
            "Because we did not approve in full every service appealed, Medicare requires us to send the "
            f"case to the Independent Review Entity, an organization that Medicare contracts with and that "
            f"is not part of our plan. {sent} ({review.source}).",
            f"Nothing needs to be done to ask for this review. The Independent Review Entity will write to "
            f"{you} with its decision.",
        ]
    assert review.last_day is not None
    if letter.to_member:
        ask = "If you disagree with our decision on the services we did not approve in full, you may ask for"
    else:
        ask = (
            "If the member disagrees with our decision on the services we did not approve in full, the member "
            "(or someone the member names in writing, such as the doctor) may ask for"
        )
    return [
        f"{ask} {review.name}. It must be asked for within {review.period} of the date of this notice, "
        f"that is by {day_text(review.last_day)} ({review.source}).",
        "Call the member services number on the member ID card to learn how to ask; we will send the "
        "case file and the policy we used to the reviewer.",
    ]


def letter_paragraphs(letter: Letter) -> dict[str, list[str]]:
    """The letter's fixed wording, shared by the page and the PDF so they say the same thing.

    "appeal" holds the paragraphs under `letter.rights_heading`: the right to appeal an initial
    adverse decision, or what may follow an appeal that kept a decision in whole or part.
    """
    if letter.further_review is not None:
        rights = _further_review_paragraphs(letter, letter.further_review)
    elif letter.appeal is not None:
        rights = _appeal_paragraphs(letter, letter.appeal)
    else:
        rights = []
    closing = [
        "If you have questions about this letter, call the member services number on the member ID card.",
        f"Line of business: {letter.line_of_business}. Decision reference {letter.case_number}-{letter.decision_id}.",
    ]
    return {"opening": _opening(letter), "appeal": rights, "closing": closing}
