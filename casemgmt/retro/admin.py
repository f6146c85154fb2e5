"""Managers' admin for retrospective review: start a run, follow it, cancel or re-run it, and set
the nightly sample. When the nightly run fires is django-celery-beat's "Periodic tasks" page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from casemgmt.audit.models import AuditObject
from casemgmt.audit.recording import AuditedAdminMixin
from casemgmt.kernel.errors import DomainError
from casemgmt.retro import services
from casemgmt.retro.discrepancy import rule_label
from casemgmt.retro.models import RetroOrigin, RetroReviewItem, RetroRun, RetroSchedule
from policies_app.models import LineOfBusiness, Policy


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


class RunStartForm(forms.ModelForm):
    """The parameters of an on-demand run; the service's own checks report on each field."""

    policy = forms.ModelChoiceField(queryset=Policy.objects.order_by("payer", "number"))
    date_from = forms.DateField(help_text="First date of service covered (YYYY-MM-DD).")
    date_to = forms.DateField(help_text="Last date of service covered (YYYY-MM-DD).")
    line_of_business = forms.ChoiceField(choices=[("", "Any"), *LineOfBusiness.choices], required=False)
    sample_percent = forms.DecimalField(
        max_digits=5,
        decimal_places=2,
        required=False,
        help_text="Blank: every case. Otherwise more than 0, at most 100.",
    )

    class Meta:
        model = RetroRun
        fields = ["policy", "date_from", "date_to", "line_of_business", "sample_percent"]

    def run_request(self) -> services.RunRequest:
        data = self.cleaned_data
        return services.RunRequest(
            policy_id=data["policy"].pk,
            date_from=data["date_from"],
            date_to=data["date_to"],
            line_of_business=data["line_of_business"] or "",
            sample_percent=data["sample_percent"],
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        for path, problems in services.retro_run_request_problems(self.run_request()).errors.items():
            self.add_error(path if path in self.fields else None, " ".join(problems))
        return data

    def _post_clean(self) -> None:
        # The run is built by the service, not from this form: skip the model's own validation.
        return None


@admin.register(RetroRun)
class RetroRunAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # Starting, cancelling and re-running are the services', which record each in this transaction.
    audit_saved_by_services = True
    audit_object_type = AuditObject.RETRO_RUN
    list_display = [
        "id",
        "trigger",
        "requested_via",
        "status",
        "progress",
        "selected",
        "evaluated",
        "discrepancies",
        "failed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "trigger"]
    list_select_related = ["policy"]
    actions = ["cancel_runs", "run_again"]
    readonly_fields = [
        "trigger",
        "requested_via",
        "status",
        "policy",
        "policy_version",
        "date_from",
        "date_to",
        "line_of_business",
        "sample_percent",
        "seed",
        "started_by",
        "selected",
        "evaluated",
        "discrepancies",
        "failed",
        "chunk_count",
        "chunks_done",
        "created_at",
        "started_at",
        "finished_at",
        "cancelled_by",
        "error",
    ]

    @admin.display(description="Progress")
    def progress(self, obj: RetroRun) -> str:
        return format_html(
            '<progress max="100" value="{}">{}%</progress> {}%', obj.percent_done, obj.percent_done, obj.percent_done
        )

    def get_form(self, request: HttpRequest, obj: RetroRun | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = RunStartForm
            kwargs["fields"] = RunStartForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request: HttpRequest, obj: RetroRun | None = None) -> list[str]:
        return self.readonly_fields if obj is not None else []

    def get_fields(self, request: HttpRequest, obj: RetroRun | None = None) -> Any:
        return self.readonly_fields if obj is not None else RunStartForm.Meta.fields

    def save_model(self, request: HttpRequest, obj: RetroRun, form: Any, change: bool) -> None:
        if change:
            return  # a run's record is written by the services only
        run = services.retro_run_request(user=_user(request), request=form.run_request(), origin=RetroOrigin.ADMIN)
        obj.pk = run.pk
        obj.refresh_from_db()

    def has_delete_permission(self, request: HttpRequest, obj: RetroRun | None = None) -> bool:
        return False  # a run is a record of what was reviewed

    @admin.action(description="Cancel selected runs", permissions=["change"])
    def cancel_runs(self, request: HttpRequest, queryset: QuerySet[RetroRun]) -> None:
        for run in queryset:
            try:
                services.retro_run_cancel(run_id=run.pk, user=_user(request))
            except DomainError as exc:
                self.message_user(request, f"Run {run.pk} not cancelled: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Run {run.pk} cancelled.", messages.SUCCESS)

    @admin.action(description="Run again with the same parameters and sample", permissions=["add"])
    def run_again(self, request: HttpRequest, queryset: QuerySet[RetroRun]) -> None:
        for run in queryset:
            try:
                new = services.retro_run_again(run_id=run.pk, user=_user(request), origin=RetroOrigin.ADMIN)
            except DomainError as exc:
                self.message_user(request, f"Run {run.pk} not started again: {exc.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"Run {new.pk} started with the parameters of run {run.pk}.", messages.SUCCESS
                )


@admin.register(RetroSchedule)
class RetroScheduleAdmin(AuditedAdminMixin, admin.ModelAdmin):
    # retro_schedule_update records the edit, old and new values, in the admin's transaction.
    audit_saved_by_services = True
    audit_object_type = AuditObject.RETRO_SCHEDULE
    fields = ["enabled", "sample_percent", "first_run_days", "updated_at", "updated_by"]
    readonly_fields = ["updated_at", "updated_by"]
    list_display = ["__str__", "enabled", "first_run_days", "updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one row, created by the migration

    def has_delete_permission(self, request: HttpRequest, obj: RetroSchedule | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RetroSchedule, form: Any, change: bool) -> None:
        saved = services.retro_schedule_update(
            user=_user(request),
            sample_percent=form.cleaned_data["sample_percent"],
            first_run_days=form.cleaned_data["first_run_days"],
            enabled=form.cleaned_data["enabled"],
        )
        obj.refresh_from_db()
        obj.pk = saved.pk


@admin.register(RetroReviewItem)
class RetroReviewItemAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """A read-only view for managers; reviewers work items on their own pages.

    Its pages show which cases a re-evaluation disputes, and the reviewers' notes on them: they
    are recorded as the reviewers' queue and item pages are (a list with the case numbers shown,
    a view with its case).
    """

    audit_member_data = True
    audit_object_type = AuditObject.RETRO_REVIEW

    list_display = ["id", "case", "run", "status", "due_at", "assignee", "resolution", "page"]
    list_filter = ["status", "resolution"]
    list_select_related = ["case", "run", "assignee"]
    fields = (
        "case",
        "run",
        "status",
        "rules_found",
        "opened_at",
        "due_at",
        "assignee",
        "resolution",
        "resolution_note",
    )
    readonly_fields = fields

    @admin.display(description="Review page")
    def page(self, obj: RetroReviewItem) -> str:
        return format_html('<a href="{}">Open the review</a>', reverse("retro_item", args=[obj.pk]))

    @admin.display(description="What the re-evaluation found")
    def rules_found(self, obj: RetroReviewItem) -> str:
        return "; ".join(rule_label(rule) for rule in obj.rules)

    def audit_listed_id(self, obj: RetroReviewItem) -> str:  # type: ignore[override]
        return obj.case.case_number

    def audit_case_number(self, object_id: str) -> str:
        number = RetroReviewItem.objects.filter(pk=object_id).values_list("case__case_number", flat=True).first()
        return number or ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: RetroReviewItem | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: RetroReviewItem | None = None) -> bool:
        return False
