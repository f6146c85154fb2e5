"""The audit log: who saw or changed what, when, from where and in which role (HIPAA 164.312(b)).

Rows are only ever inserted (casemgmt.audit.services.audit_record). The database refuses to
change them: a trigger rejects UPDATE on SQLite and PostgreSQL, and DELETE on PostgreSQL.
"""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    VIEW = "view", "View"
    LIST = "list", "List"
    CREATE = "create", "Create"
    CHANGE = "change", "Change"
    DELETE = "delete", "Delete"
    EXPORT = "export", "Export"
    DOWNLOAD = "download", "Download"
    SIGN_IN = "sign_in", "Sign-in"
    SIGN_IN_FAILED = "sign_in_failed", "Sign-in failed"
    SIGN_OUT = "sign_out", "Sign-out"
    DENIED = "denied", "Denied"


class AuditChannel(models.TextChoices):
    WEB = "web", "Web pages"
    API = "api", "REST API"
    ADMIN = "admin", "Admin"
    TASK = "task", "Background task"
    COMMAND = "command", "Management command"


# What the rows are about. Free text in the column (another app may add its own), these are
# the ones the product writes and the auditor's filter offers.
class AuditObject(models.TextChoices):
    CASE = "case", "Case"
    DECISION = "decision", "Decision"
    LETTER = "letter", "Decision letter"
    ATTACHMENT = "attachment", "Attachment"
    NOTE = "note", "Note"
    PEER_TO_PEER = "peer_to_peer", "Peer-to-peer discussion"
    API_TOKEN = "api_token", "API token"
    WEBHOOK = "webhook", "Webhook"
    POLICY_VERSION = "policy_version", "Policy version"
    USER = "user", "User account"
    AUDIT_LOG = "audit_log", "Audit log"
    PAGE = "page", "Page or endpoint"
    ADMIN_OBJECT = "admin_object", "Admin record"
    RETRO_REVIEW = "retro_review", "Retrospective review"
    RETRO_RUN = "retro_run", "Retrospective review run"
    # The results one chunk of a run wrote (object id: the run; the cases in object_ids).
    RETRO_RESULT = "retro_result", "Retrospective review results"
    RETRO_SCHEDULE = "retro_schedule", "Nightly retrospective review settings"
    AUTHORIZATION = "authorization", "Authorization"
    REPORT = "report", "Public metrics report"
    MEMBER_COVERAGE = "member_coverage", "Member coverage (eligibility)"
    REQUIREMENT_RULE = "requirement_rule", "Prior-authorization requirement rule"
    INTAKE_SETTINGS = "intake_settings", "Intake settings (automatic approval)"
    GOLD_CARD_PROGRAMME = "gold_card_programme", "Gold-card programme"
    GOLD_CARD_EXEMPTION = "gold_card_exemption", "Gold-card exemption"
    FHIR_CLIENT = "fhir_client", "FHIR backend client"
    SAVED_QUEUE_FILTER = "saved_queue_filter", "Saved work-list filter"


class AuditEvent(models.Model):
    at = models.DateTimeField(default=timezone.now)
    # No database constraint and no cascade: deleting an account must neither fail because it
    # has history nor erase it. `actor_username` keeps the name as it was. No index either: no
    # read looks rows up by the account (the auditor's search is by name), and every request
    # that is recorded would pay for one.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    actor_username = models.CharField(
        max_length=150, blank=True, help_text="The account name at the time; 'system' for tasks and commands."
    )
    roles = models.CharField(max_length=200, blank=True, help_text="The role(s) acted in, space-separated role values.")
    channel = models.CharField(max_length=10, choices=AuditChannel.choices)
    action = models.CharField(max_length=20, choices=AuditAction.choices)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=100, blank=True)
    # The case the row concerns, whatever the object (a decision, letter, attachment): the
    # case's own access history is read by this column.
    case_number = models.CharField(max_length=20, blank=True)
    # For a list: every identifier shown (the case numbers on the page), space-separated.
    object_ids = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    method = models.CharField(max_length=10, blank=True)
    # Never the query string: see casemgmt.audit.context.
    path = models.CharField(max_length=500, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=32, blank=True, help_text="Rows written by one request share it.")
    changes = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text='{"field": {"old": ..., "new": ...}}'
    )
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["-at", "-id"]
        # The auditor's filters that compare whole values (case, object, action, address) and
        # the time order. The person filter matches part of a name, which a b-tree cannot serve.
        indexes = [
            models.Index(fields=["at", "id"], name="audit_at_idx"),
            models.Index(fields=["case_number", "at"], name="audit_case_idx"),
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            models.Index(fields=["action", "at"], name="audit_action_idx"),
            models.Index(fields=["ip", "at"], name="audit_ip_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action} {self.object_type} {self.object_id}"

    @property
    def changed_fields(self) -> list[str]:
        # Sorted here: PostgreSQL's jsonb does not keep the order the keys were written in.
        return sorted(self.changes)
