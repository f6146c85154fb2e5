from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from rest_framework.test import APIClient

from casemgmt.cases.models import WebhookDelivery
from casemgmt.cases.services.webhooks import webhook_deliver, webhook_signature, webhook_subscribe
from casemgmt.kernel.errors import ValidationFailed
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
