"""Reads of the case domain. Visibility rules live here and nowhere else."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Prefetch, QuerySet

from casemgmt.models import OPEN_STATUSES, Attachment, Case, CaseEvent, Decision, Flag
from casemgmt.roles import REVIEWER_ROLES, Role, user_roles
from policies_app.engine import LineRequest, RequestData
from policies_app.models import FactDefinition


def cases_visible_to(user: User | AnonymousUser) -> QuerySet[Case]:
    """Reviewers and managers see every case; an integration client only its own; others none."""
    roles = user_roles(user)
    if roles & REVIEWER_ROLES:
        return Case.objects.all()
    if Role.INTEGRATION_CLIENT in roles:
        return Case.objects.filter(submitted_by=user.pk)
    return Case.objects.none()


def case_get_for(user: User | AnonymousUser, case_number: str) -> Case | None:
    return cases_visible_to(user).filter(case_number=case_number).first()


def current_flags() -> Prefetch[str, QuerySet[Flag], str]:
    return Prefetch(
        "flags",
        queryset=Flag.objects.filter(superseded_at__isnull=True).select_related("service_line", "policy_version"),
        to_attr="current_flags",
    )


def case_detail(user: User | AnonymousUser, case_number: str) -> Case | None:
    return (
        cases_visible_to(user)
        .filter(case_number=case_number)
        .select_related("submitted_by", "assignee", "deadline_rule")
        .prefetch_related(
            "lines",
            current_flags(),
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("decided_by").prefetch_related(
                    "lines__service_line", "citations"
                ),
            ),
            Prefetch("events", queryset=CaseEvent.objects.select_related("actor")),
        )
        .first()
    )


def work_queue(user: User | AnonymousUser) -> QuerySet[Case]:
    """Open cases, most urgent deadline first."""
    if not (user_roles(user) & REVIEWER_ROLES):
        return Case.objects.none()
    return (
        Case.objects.filter(status__in=OPEN_STATUSES)
        .select_related("assignee")
        .prefetch_related(current_flags())
        .order_by("due_at", "id")
    )


def case_request_data(case: Case) -> RequestData:
    """The engine's view of a case."""
    return RequestData(
        line_of_business=case.line_of_business,
        lines=tuple(
            LineRequest(
                sequence=line.sequence,
                code_system=line.code_system,
                code=line.code,
                date_of_service=line.date_of_service,
                description=line.description,
            )
            for line in case.lines.all()
        ),
        diagnosis_codes=tuple(case.diagnosis_codes),
        facts=dict(case.clinical_facts),
        member_birth_date=case.member_birth_date,
        notes=case.clinical_notes,
    )


def fact_catalogue() -> dict[str, str]:
    """Facts a request may send, by key, with their value type."""
    return dict(FactDefinition.objects.filter(derived=False).values_list("key", "value_type"))


def attachments_visible_to(user: User | AnonymousUser) -> QuerySet[Attachment]:
    """Attachments follow their case: whoever may see the case may see its attachments."""
    return Attachment.objects.filter(case__in=cases_visible_to(user)).select_related("uploaded_by")


def case_attachments(user: User | AnonymousUser, case_number: str) -> QuerySet[Attachment]:
    return attachments_visible_to(user).filter(case__case_number=case_number).order_by("uploaded_at", "id")


def attachment_get_for(user: User | AnonymousUser, case_number: str, attachment_id: int) -> Attachment | None:
    return case_attachments(user, case_number).filter(pk=attachment_id).first()
