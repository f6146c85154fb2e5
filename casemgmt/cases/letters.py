"""Decision letters for the member and the requesting provider, as a page and as a PDF.

A letter is built only from what the decision froze: its lines and reasons, and its Citation
rows (policy number, title and version as they were when the decision was made). Live policy
data is never read here, so editing a policy cannot change a letter already sent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch

from casemgmt.cases.models import ADVERSE_OUTCOMES, Citation, Decision, DecisionLine, LineOutcome
from casemgmt.cases.selectors import cases_visible_to
from policies_app.models import CoveragePosition, LineOfBusiness

RECIPIENTS = ("member", "provider")


@dataclass(frozen=True)
class AppealRule:
    """How long the member has to appeal an adverse determination, and what follows."""

    days: int
    counted_from: str
    source: str
    expedited_hours: int
    expedited_source: str
    next_step: str


_COMMERCIAL = AppealRule(
    days=180,
    counted_from="receiving this notice",
    source="29 CFR 2560.503-1(h)(3)(i)",
    expedited_hours=72,
    expedited_source="29 CFR 2560.503-1(i)(2)(i)",
    next_step="If we keep our decision after your appeal, you may ask for an independent external review.",
)

# Appeal deadlines by line of business. Kept in code beside the letter that states them: a
# change here is a change in what members are told, and goes through review like any other.
APPEAL_RULES: dict[str, AppealRule] = {
    LineOfBusiness.COMMERCIAL: _COMMERCIAL,
    # Marketplace plans follow the same internal-appeal rule (45 CFR 147.136(b) incorporates it).
    LineOfBusiness.EXCHANGE: AppealRule(
        days=180,
        counted_from="receiving this notice",
        source="45 CFR 147.136(b); 29 CFR 2560.503-1(h)(3)(i)",
        expedited_hours=72,
        expedited_source="29 CFR 2560.503-1(i)(2)(i)",
        next_step=_COMMERCIAL.next_step,
    ),
    LineOfBusiness.MEDICARE_ADVANTAGE: AppealRule(
        days=65,
        counted_from="the date of this notice",
        source="42 CFR 422.582",
        expedited_hours=72,
        expedited_source="42 CFR 422.584; 42 CFR 422.590(e)",
        next_step="If we keep our decision, your appeal goes automatically to an Independent Review Entity.",
    ),
    LineOfBusiness.MEDICAID: AppealRule(
        days=60,
        counted_from="the date of this notice",
        source="42 CFR 438.402(c)(2)(ii)",
        expedited_hours=72,
        expedited_source="42 CFR 438.410; 42 CFR 438.408(b)(3)",
        next_step="If we keep our decision after your appeal, you may ask for a State fair hearing.",
    ),
    # CHIP managed care follows the Medicaid appeal rules (42 CFR 457.1260).
    LineOfBusiness.CHIP: AppealRule(
        days=60,
        counted_from="the date of this notice",
        source="42 CFR 457.1260; 42 CFR 438.402(c)(2)(ii)",
        expedited_hours=72,
        expedited_source="42 CFR 457.1260; 42 CFR 438.410",
        next_step="If we keep our decision after your appeal, you may ask for a State review.",
    ),
}

PLAIN_OUTCOMES = {
    LineOutcome.APPROVED: "Approved",
    LineOutcome.PARTIALLY_APPROVED: "Partly approved",
    LineOutcome.DENIED: "Not approved",
    LineOutcome.MODIFIED: "Approved with changes",
    LineOutcome.PENDED: "Waiting for more information",
}


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
        start = self.effective_start.isoformat() if self.effective_start else "an unrecorded date"
        end = self.effective_end.isoformat() if self.effective_end else "until replaced"
        return f"in effect from {start} {'to ' + end if self.effective_end else end}"


@dataclass(frozen=True)
class Letter:
    recipient: str
    case_number: str
    decision_id: int
    decision_date: date
    line_of_business: str
    member_name: str
    member_id: str
    member_birth_date: date
    provider_name: str
    provider_npi: str
    reviewer_name: str
    reviewer_role: str
    expedited: bool
    lines: tuple[LetterLine, ...]
    citations: tuple[LetterCitation, ...]
    appeal: AppealRule | None

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
        return f"Prior authorization decision {self.case_number}"


def decision_for_letter(user: User | AnonymousUser, case_number: str, decision_id: int) -> Decision | None:
    """The decision with everything its letter needs, if the user may see its case."""
    return (
        Decision.objects.filter(pk=decision_id, case__in=cases_visible_to(user), case__case_number=case_number)
        .select_related("case", "decided_by")
        .prefetch_related(
            Prefetch("lines", queryset=DecisionLine.objects.select_related("service_line")),
            Prefetch("citations", queryset=Citation.objects.order_by("id")),
        )
        .first()
    )


def _position_text(value: str) -> str:
    return str(CoveragePosition(value).label) if value in CoveragePosition.values else value


def letter_build(decision: Decision, recipient: str) -> Letter:
    case = decision.case
    lines = []
    for dl in decision.lines.all():
        sl = dl.service_line
        outcome_text = PLAIN_OUTCOMES.get(LineOutcome(dl.outcome), dl.outcome)
        if dl.outcome in (LineOutcome.PARTIALLY_APPROVED, LineOutcome.MODIFIED) and dl.approved_units is not None:
            outcome_text += f": {dl.approved_units} of {sl.units} units approved"
        lines.append(
            LetterLine(
                sequence=sl.sequence,
                service=" ".join(filter(None, [sl.code_system, sl.code, sl.description and f"({sl.description})"])),
                date_of_service=sl.date_of_service,
                units_requested=sl.units,
                outcome=dl.outcome,
                outcome_text=outcome_text,
                approved_units=dl.approved_units,
                reason=dl.reason,
                adverse=dl.outcome in ADVERSE_OUTCOMES,
            )
        )
    citations = tuple(
        LetterCitation(
            policy_number=c.policy_number,
            policy_title=c.policy_title,
            payer=c.payer,
            version_label=c.version_label,
            effective_start=c.effective_start,
            effective_end=c.effective_end,
            coverage_position=_position_text(c.coverage_position),
            criterion=c.criterion,
        )
        for c in decision.citations.all()
    )
    reviewer = decision.decided_by
    adverse = any(line.adverse for line in lines)
    return Letter(
        recipient=recipient,
        case_number=case.case_number,
        decision_id=decision.pk,
        decision_date=decision.decided_at.date(),
        line_of_business=case.get_line_of_business_display(),
        member_name=f"{case.member_first_name} {case.member_last_name}",
        member_id=case.member_id,
        member_birth_date=case.member_birth_date,
        provider_name=case.requesting_provider_name,
        provider_npi=case.requesting_provider_npi,
        reviewer_name=reviewer.get_full_name() or reviewer.get_username(),
        reviewer_role=decision.get_decided_role_display(),
        expedited=case.urgency == "expedited",
        lines=tuple(lines),
        citations=citations,
        appeal=APPEAL_RULES.get(case.line_of_business, _COMMERCIAL) if adverse else None,
    )


# --- PDF ------------------------------------------------------------------------------------


def letter_pdf(letter: Letter, *, compress: bool = True) -> bytes:
    """The letter as a PDF. compress=False leaves the page text readable in the bytes (tests)."""
    from reportlab.lib.pagesizes import LETTER
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import inch
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Spacer

    styles = getSampleStyleSheet()
    body, heading, title = styles["BodyText"], styles["Heading2"], styles["Title"]

    def p(text: str, style: object = body) -> Paragraph:
        return Paragraph(escape(text), style)

    def bullets(items: list[str]) -> ListFlowable:
        return ListFlowable([ListItem(p(item)) for item in items], bulletType="bullet", leftIndent=14)

    story: list[object] = [p(letter.title, title)]
    for paragraph in letter_paragraphs(letter)["opening"]:
        story.append(p(paragraph))
    story.append(p("What we decided", heading))
    for line in letter.lines:
        text = (
            f"Service {line.sequence}: {line.service}, {line.units_requested} unit(s), "
            f"date of service {line.date_of_service.isoformat()}. Decision: {line.outcome_text}."
        )
        if line.reason:
            text += f" Why: {line.reason}"
        story.append(p(text))
    if letter.citations:
        story.append(p("The policy we used", heading))
        story.append(
            bullets(
                [
                    f"{c.reference} ({c.payer}), {c.in_effect}. Coverage position: {c.coverage_position}. "
                    f"What it says: {c.criterion}"
                    for c in letter.citations
                ]
            )
        )
        story.append(p("You may ask us for a free copy of this policy and of the criteria we used."))
    if letter.appeal:
        story.append(p("Your right to appeal", heading))
        for paragraph in letter_paragraphs(letter)["appeal"]:
            story.append(p(paragraph))
    story.append(Spacer(1, 0.2 * inch))
    for paragraph in letter_paragraphs(letter)["closing"]:
        story.append(p(paragraph))

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        title=letter.title,
        author="Utilization management",
        pageCompression=1 if compress else 0,
        invariant=1,
        leftMargin=0.9 * inch,
        rightMargin=0.9 * inch,
    )
    document.build(story)
    return buffer.getvalue()


def letter_paragraphs(letter: Letter) -> dict[str, list[str]]:
    """The letter's fixed wording, shared by the page and the PDF so they say the same thing."""
    if letter.to_member:
        opening = [
            f"Dear {letter.member_name},",
            f"{letter.provider_name} asked us to approve care for you before you receive it "
            f"(request {letter.case_number}, member ID {letter.member_id}). "
            f"We reviewed the request and made the decision below on {letter.decision_date.isoformat()}.",
        ]
    else:
        opening = [
            f"Dear {letter.provider_name} (NPI {letter.provider_npi}),",
            f"We reviewed your prior authorization request {letter.case_number} for "
            f"{letter.member_name} (member ID {letter.member_id}, born {letter.member_birth_date.isoformat()}). "
            f"The decision below was made on {letter.decision_date.isoformat()} by {letter.reviewer_name}, "
            f"{letter.reviewer_role.lower()}.",
        ]
        if letter.adverse:
            opening.append(
                "You may ask to discuss this decision with the physician reviewer (a peer-to-peer "
                "discussion) by calling our utilization management department."
            )
    appeal: list[str] = []
    rule = letter.appeal
    if rule is not None:
        you = "You" if letter.to_member else "The member"
        whose = "your" if letter.to_member else "the member's"
        appeal = [
            f"{you} may ask us to look at this decision again (an appeal). "
            f"{you} must ask within {rule.days} days of {rule.counted_from} ({rule.source}).",
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
            f"within {rule.expedited_hours} hours ({rule.expedited_source}).",
            "A different person who was not involved in this decision will review the appeal. " + rule.next_step,
        ]
    closing = [
        "If you have questions about this letter, call the member services number on the member ID card.",
        f"Line of business: {letter.line_of_business}. Decision reference {letter.case_number}-{letter.decision_id}.",
    ]
    return {"opening": opening, "appeal": appeal, "closing": closing}
