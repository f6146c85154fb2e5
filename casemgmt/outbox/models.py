"""The outbox's rows: tasks to send, and the relays' heartbeats."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxTask(models.Model):
    """One Celery task to send: its registered name and its integer arguments.

    Written in the transaction of the change that calls for it, so the task exists exactly when
    the change does. Sent with the task id `outbox-<id>`, so a message can be traced to its row.
    """

    name = models.CharField(max_length=200)
    args = models.JSONField(default=list, help_text="The task's positional arguments: primary keys.")
    created_at = models.DateTimeField(default=timezone.now)
    # The relay sends an unsent row once this has passed. Set ahead of `created_at` for a row the
    # request sends itself after commit, so the relay does not race it; moved on after a failure.
    due_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed sends so far.")
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="outboxtask_name_not_empty"),
            models.CheckConstraint(condition=Q(attempts__gte=0), name="outboxtask_attempts_not_negative"),
        ]
        indexes = [
            # The relay's one question: which unsent rows are due? Sent rows never enter it.
            models.Index(fields=["due_at"], condition=Q(sent_at__isnull=True), name="outboxtask_unsent_due_idx"),
            # Purging sent rows by age.
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outboxtask_sent_idx"),
        ]

    def __str__(self) -> str:
        args = ", ".join(str(a) for a in self.args)
        return f"{self.name}({args}) {'sent' if self.sent_at else 'unsent'}"


class OutboxRelayHeartbeat(models.Model):
    """A relay process's last sign of life, one row per process (host and pid), so the health
    check can tell whether any relay is running when several are."""

    relay = models.CharField(max_length=200, unique=True, help_text="host:pid")
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()
    sent = models.PositiveBigIntegerField(default=0, help_text="Tasks this process has sent.")

    class Meta:
        indexes = [models.Index(fields=["beat_at"], name="outboxrelayheartbeat_beat_idx")]

    def __str__(self) -> str:
        return f"{self.relay} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
