"""Webhooks: registration, signed notifications, and deliveries retried on their schedule until
delivered or given up, with a sweeper for the ones whose message was lost."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from celery import Task
from celery.exceptions import Retry
from django.db import OperationalError
from django.db.models import QuerySet
from django.test import Client
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError
from rest_framework.test import APIClient

from casemgmt.cases.models import WebhookDelivery
from casemgmt.cases.services.webhooks import (
    WEBHOOK_DELIVER_TASK,
    WEBHOOK_MAX_ATTEMPTS,
    webhook_deliver,
    webhook_deliveries_sweep,
    webhook_retry_delay,
    webhook_signature,
    webhook_subscribe,
)
from casemgmt.cases.tasks import webhook_deliver_task
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.outbox.models import OutboxTask
from casemgmt.outbox.services import outbox_relay
from casemgmt.security.services import api_token_create, roles_sync_permissions
from tests import factories

pytestmark = pytest.mark.django_db


class Receiver:
    """A local HTTP endpoint that records what it is sent and answers with a chosen status."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    r = Receiver()
    yield r
    r.close()


def test_status_change_is_posted_with_a_valid_signature(
    integration_client, receiver, django_capture_on_commit_callbacks
):
    _, secret = webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        case = factories.case(integration_client, external_id="EHR-7")
    headers, body = receiver.received[0]
    payload = json.loads(body)
    assert (payload["case_number"], payload["status"], payload["event"]) == (case.case_number, "received", "received")
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-Casemgmt-Signature"].split(","))
    assert signature == webhook_signature(secret, timestamp, body)
    assert WebhookDelivery.objects.get().status == "delivered"


def test_payload_carries_no_member_data(integration_client, receiver, django_capture_on_commit_callbacks):
    webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.case(integration_client)
    body = receiver.received[0][1].decode()
    assert "Ada" not in body and "M123" not in body and "1960" not in body


def test_failed_delivery_stays_pending_for_retry(integration_client, receiver, django_capture_on_commit_callbacks):
    receiver.status = 500
    webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")


def test_delivered_notification_is_not_sent_twice(integration_client, receiver, django_capture_on_commit_callbacks):
    webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.case(integration_client)
    assert webhook_deliver(delivery_id=WebhookDelivery.objects.get().pk) == "done"
    assert len(receiver.received) == 1


def test_webhook_to_a_private_address_is_refused(integration_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    with pytest.raises(ValidationFailed) as exc:
        webhook_subscribe(client=integration_client, url="https://127.0.0.1/hook")
    assert "private network" in exc.value.errors["url"][0]


def test_plain_http_webhook_is_refused_by_default(integration_client):
    with pytest.raises(ValidationFailed) as exc:
        webhook_subscribe(client=integration_client, url="http://example.org/hook")
    assert exc.value.errors["url"] == ["must use https"]


def test_register_webhook_over_the_api_shows_secret_once(integration_client, receiver):
    api = APIClient()
    api.force_authenticate(integration_client)
    created = api.post("/api/v1/webhooks", {"url": receiver.url}, format="json")
    assert created.status_code == 201
    assert len(created.json()["secret"]) == 64
    assert "secret" not in api.get("/api/v1/webhooks").json()[0]


def test_reviewer_cannot_register_webhooks(nurse):
    api = APIClient()
    api.force_authenticate(nurse)
    assert api.post("/api/v1/webhooks", {"url": "https://example.org/h"}, format="json").status_code == 403


# --- deliveries that finish ---------------------------------------------------------------------


def _make_due(delivery: WebhookDelivery) -> None:
    """Move time on: the delivery's next attempt (and its task in the outbox) are due now."""
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=now - timedelta(seconds=1))
    OutboxTask.objects.filter(sent_at__isnull=True).update(due_at=now - timedelta(seconds=1))


@pytest.fixture
def failing_delivery(integration_client, receiver, django_capture_on_commit_callbacks) -> WebhookDelivery:
    receiver.status = 500
    webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.case(integration_client)
    return WebhookDelivery.objects.get()


def test_the_delivery_and_its_task_are_written_with_the_change(integration_client, receiver):
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)  # no commit callbacks run: nothing sent yet
    delivery = WebhookDelivery.objects.get()
    row = OutboxTask.objects.get()
    assert (row.name, row.args, row.sent_at) == (WEBHOOK_DELIVER_TASK, [delivery.pk], None)
    assert delivery.status == "pending" and delivery.enqueued_at is not None


def test_a_failed_attempt_schedules_the_next_one_with_backoff(failing_delivery):
    delivery = failing_delivery
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    wait = delivery.next_attempt_at - delivery.last_attempt_at
    assert webhook_retry_delay(1) <= wait < webhook_retry_delay(1) + timedelta(seconds=2)
    retry = OutboxTask.objects.get(sent_at__isnull=True)
    assert (retry.name, retry.args, retry.due_at) == (WEBHOOK_DELIVER_TASK, [delivery.pk], delivery.next_attempt_at)


def test_the_backoff_doubles_up_to_an_hour():
    assert [webhook_retry_delay(n).total_seconds() for n in (1, 2, 3, 10, 20)] == [8, 16, 32, 3600, 3600]


def test_a_delivery_is_not_attempted_before_it_is_due(failing_delivery, receiver):
    assert webhook_deliver(delivery_id=failing_delivery.pk) == "not due"
    assert len(receiver.received) == 1


def test_the_relay_sends_the_retry_when_due_and_it_is_delivered(failing_delivery, receiver):
    receiver.status = 200
    assert outbox_relay(limit=10).sent == 0, "the retry is not due yet"
    _make_due(failing_delivery)
    assert outbox_relay(limit=10).sent == 1
    failing_delivery.refresh_from_db()
    assert (failing_delivery.status, failing_delivery.attempts) == ("delivered", 2)
    assert len(receiver.received) == 2


def test_a_delivery_is_given_up_after_its_last_attempt(failing_delivery, receiver):
    for _ in range(WEBHOOK_MAX_ATTEMPTS - 1):
        _make_due(failing_delivery)
        outbox_relay(limit=10)
    failing_delivery.refresh_from_db()
    assert (failing_delivery.status, failing_delivery.attempts) == ("failed", WEBHOOK_MAX_ATTEMPTS)
    assert failing_delivery.last_error == "HTTP 500"
    assert len(receiver.received) == WEBHOOK_MAX_ATTEMPTS
    assert not OutboxTask.objects.filter(sent_at__isnull=True).exists(), "nothing more is scheduled"
    assert webhook_deliver(delivery_id=failing_delivery.pk) == "done"


def test_a_repeated_message_while_an_attempt_is_under_way_posts_nothing(
    integration_client, receiver, django_capture_on_commit_callbacks
):
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    # Another worker has claimed it: its next attempt is pushed past the attempt's end.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() + timedelta(seconds=50))
    assert webhook_deliver(delivery_id=delivery.pk) == "not due"
    assert receiver.received == []


def test_the_same_task_sent_twice_delivers_once(integration_client, receiver, django_capture_on_commit_callbacks):
    webhook_subscribe(client=integration_client, url=receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        factories.case(integration_client)
    row = OutboxTask.objects.get()
    OutboxTask.objects.filter(pk=row.pk).update(sent_at=None, due_at=timezone.now())  # as if the mark was lost
    assert outbox_relay(limit=10).sent == 1
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


def test_a_broker_outage_does_not_fail_the_submission_and_the_relay_delivers_later(
    integration_client, receiver, monkeypatch, django_capture_on_commit_callbacks, celery_eager
):
    from casemgmt.celery import app

    def broker_down(self, *args, **kwargs):
        raise BrokerError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    webhook_subscribe(client=integration_client, url=receiver.url)
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    app.conf.task_always_eager = False
    monkeypatch.setattr(Task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/cases", factories.api_case_body(), format="json")
    assert response.status_code == 201
    row = OutboxTask.objects.get()
    assert row.sent_at is None and row.attempts == 1
    assert WebhookDelivery.objects.get().status == "pending"

    monkeypatch.undo()
    app.conf.task_always_eager = True  # the broker is back; its worker runs the task here
    OutboxTask.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert outbox_relay(limit=10).sent == 1
    assert len(receiver.received) == 1
    assert WebhookDelivery.objects.get().status == "delivered"


def test_the_sweeper_finds_a_pending_delivery_whose_message_was_lost(
    integration_client, receiver, settings, django_capture_on_commit_callbacks
):
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    OutboxTask.objects.all().delete()  # the message is gone: a broker that kept nothing
    lost = timezone.now() - timedelta(seconds=settings.WEBHOOK_STALL_SECONDS + 1)
    WebhookDelivery.objects.update(enqueued_at=lost, next_attempt_at=lost)

    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep() == 1
    assert WebhookDelivery.objects.get().status == "delivered"
    assert len(receiver.received) == 1
    assert OutboxTask.objects.get().sent_at is not None


def test_the_sweeper_finds_a_delivery_never_queued(integration_client, receiver, django_capture_on_commit_callbacks):
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    OutboxTask.objects.all().delete()
    WebhookDelivery.objects.update(enqueued_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        assert webhook_deliveries_sweep() == 1
    assert WebhookDelivery.objects.get().status == "delivered"


def test_the_sweeper_leaves_a_delivery_whose_message_is_on_its_way(integration_client, receiver):
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    assert webhook_deliveries_sweep() == 0
    assert OutboxTask.objects.count() == 1


def test_the_sweeper_leaves_a_retry_not_yet_due(failing_delivery):
    WebhookDelivery.objects.update(enqueued_at=None)
    assert webhook_deliveries_sweep() == 0


def test_a_database_error_in_the_delivery_task_is_retried_not_dropped(monkeypatch):
    def database_down(*, delivery_id: int) -> str:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("casemgmt.cases.tasks.webhook_deliver", database_down)
    # In a worker, Retry sends the task again with a countdown instead of acknowledging it.
    with pytest.raises(Retry) as retry:
        webhook_deliver_task.apply(args=(1,))
    assert isinstance(retry.value.exc, OperationalError)
    assert webhook_deliver_task.max_retries and webhook_deliver_task.retry_backoff


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_delivery_made_during_a_database_outage_is_recorded_once_it_is_back(
    integration_client, receiver, monkeypatch
):
    webhook_subscribe(client=integration_client, url=receiver.url)
    with monkeypatch.context() as unsent:
        unsent.setattr("casemgmt.outbox.services.outbox_send", lambda *, messages: 0)
        factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    original = QuerySet.update
    failures = iter([True])

    def update(self, **values):
        if self.model is WebhookDelivery and values.get("status") == "delivered" and next(failures, False):
            raise OperationalError("the database system is shutting down")
        return original(self, **values)

    monkeypatch.setattr(QuerySet, "update", update)
    monkeypatch.setattr("casemgmt.cases.services.webhooks.time.sleep", lambda seconds: None)
    assert webhook_deliver(delivery_id=delivery.pk) == "delivered"
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    assert len(receiver.received) == 1


def test_the_client_sees_its_pending_and_given_up_deliveries(failing_delivery, integration_client, receiver):
    for _ in range(WEBHOOK_MAX_ATTEMPTS - 1):
        _make_due(failing_delivery)
        outbox_relay(limit=10)
    with_pending = factories.case(integration_client, external_id="EHR-PENDING")  # its delivery not yet attempted
    api = APIClient()
    api.force_authenticate(integration_client)
    [hook] = api.get("/api/v1/webhooks").json()
    assert hook["deliveries"] == {"pending": 1, "failed": 1}
    [failed] = hook["failed_deliveries"]
    case_number = failing_delivery.payload["case_number"]
    assert case_number != with_pending.case_number
    assert (failed["id"], failed["case_number"], failed["event"]) == (failing_delivery.pk, case_number, "received")
    assert (failed["attempts"], failed["last_error"]) == (WEBHOOK_MAX_ATTEMPTS, "HTTP 500")


def test_a_new_webhook_lists_no_deliveries(integration_client, receiver):
    webhook_subscribe(client=integration_client, url=receiver.url)
    api = APIClient()
    api.force_authenticate(integration_client)
    [hook] = api.get("/api/v1/webhooks").json()
    assert (hook["deliveries"], hook["failed_deliveries"]) == ({"pending": 0, "failed": 0}, [])


def test_managers_see_given_up_deliveries_in_the_admin(failing_delivery, manager, integration_client):
    WebhookDelivery.objects.filter(pk=failing_delivery.pk).update(status="failed", attempts=WEBHOOK_MAX_ATTEMPTS)
    roles_sync_permissions()
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    browser = Client()
    browser.force_login(manager)
    page = browser.get("/admin/casemgmt/webhookdelivery/?status__exact=failed")
    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [failing_delivery]
    assert integration_client.username in page.content.decode()
    assert failing_delivery.payload["case_number"] not in page.content.decode()
    assert browser.get("/admin/casemgmt/webhookdelivery/?status__exact=delivered").context["cl"].result_count == 0


def test_beat_runs_the_webhook_sweeper_every_minute():
    from django_celery_beat.models import PeriodicTask

    from casemgmt.cases.tasks import webhook_sweep_task

    sweeper = PeriodicTask.objects.get(name="webhooks: sweeper")
    assert (sweeper.task, sweeper.enabled) == (webhook_sweep_task.name, True)
    assert (sweeper.interval.every, sweeper.interval.period) == (1, "minutes")
