"""The outbox against the real services: Redis and a Celery worker deliver what the outbox sends.

These run only against PostgreSQL + Redis (tests/services_fixtures.py); on the embedded default
they skip, and under CI=true a missing service fails them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Task
from kombu.exceptions import OperationalError as BrokerError

from casemgmt.cases.models import WebhookDelivery
from casemgmt.cases.services.webhooks import WEBHOOK_DELIVER_TASK, webhook_subscribe
from casemgmt.celery import app
from casemgmt.outbox.models import OutboxTask
from casemgmt.outbox.services import outbox_relay
from tests import factories
from tests.casemgmt.cases.test_webhooks import Receiver
from tests.services_fixtures import CeleryWorker, _purge, start_celery_worker, stop_celery_worker

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture(scope="module")
def webhook_worker(
    django_db_setup: None, celery_test_queue: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorker]:
    """A worker that may POST to a receiver on this machine over plain HTTP."""
    _purge(celery_test_queue)
    worker = start_celery_worker(
        celery_test_queue,
        tmp_path_factory.mktemp("outbox") / "worker.log",
        extra_env={"WEBHOOK_ALLOW_HTTP": "1", "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "1"},
    )
    try:
        yield worker
    finally:
        stop_celery_worker(worker)
        _purge(celery_test_queue, forget=True)


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    r = Receiver()
    yield r
    r.close()


def delivered(delivery_id: int) -> bool:
    return WebhookDelivery.objects.filter(pk=delivery_id, status="delivered").exists()


def test_a_notification_sent_at_commit_is_delivered_by_the_worker(webhook_worker, integration_client, receiver):
    assert app.conf.task_always_eager is False, "the service-backed run must send tasks to the broker"
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    row = OutboxTask.objects.get(name=WEBHOOK_DELIVER_TASK)
    assert row.attempts == 0, "the request sent its task after commit"

    webhook_worker.wait_until(lambda: delivered(delivery.pk), "the worker to deliver the notification")
    assert len(receiver.received) == 1
    assert f"[outbox-{row.pk}]" in webhook_worker.log_text()
    row.refresh_from_db()
    assert row.sent_at is not None, "the worker that started the task marked its row sent"


def test_a_notification_written_while_the_broker_was_down_is_delivered_by_the_relay(
    webhook_worker, integration_client, receiver, monkeypatch
):
    webhook_subscribe(client=integration_client, url=receiver.url)

    def broker_down(self, *args, **kwargs):
        raise BrokerError("Error 111 connecting to redis. Connection refused.")

    with monkeypatch.context() as outage:
        outage.setattr(Task, "apply_async", broker_down)
        factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    row = OutboxTask.objects.get(name=WEBHOOK_DELIVER_TASK)
    assert row.sent_at is None and row.attempts == 1

    OutboxTask.objects.filter(pk=row.pk).update(due_at=row.created_at)  # its backoff has passed
    assert outbox_relay(limit=10).sent == 1
    webhook_worker.wait_until(lambda: delivered(delivery.pk), "the worker to deliver the relayed notification")
    assert len(receiver.received) == 1


def test_the_same_notification_relayed_twice_is_delivered_once(webhook_worker, integration_client, receiver):
    started = webhook_worker.tasks_accepted(WEBHOOK_DELIVER_TASK)
    webhook_subscribe(client=integration_client, url=receiver.url)
    factories.case(integration_client)
    delivery = WebhookDelivery.objects.get()
    row = OutboxTask.objects.get(name=WEBHOOK_DELIVER_TASK)
    # The worker marks the row sent when it starts the task; wait for that, so the lost mark
    # below is not overwritten by the first run.
    webhook_worker.wait_until(lambda: delivered(delivery.pk), "the worker to deliver the notification")
    # As if the relay's mark had been lost: the row goes out a second time.
    OutboxTask.objects.filter(pk=row.pk).update(sent_at=None, due_at=row.created_at)
    assert outbox_relay(limit=10).sent == 1
    webhook_worker.wait_for_tasks(WEBHOOK_DELIVER_TASK, started + 2, timeout=30)
    assert len(receiver.received) == 1
