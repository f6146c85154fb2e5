"""PAS notifications: a pended request's change of state reaches its client's subscription as the
backport's notification Bundle holding the full PAS Response Bundle, signed, numbered, retried
like a webhook and never sent twice; a v1 request notifies nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import Case, CaseStatus
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.webhooks import WEBHOOK_MAX_ATTEMPTS, webhook_retry_delay, webhook_signature
from casemgmt.fhir.codes import PAS_SUBSCRIPTION_TOPIC, Ext, Profile, System
from casemgmt.fhir.models import FhirNotification, FhirSubscription
from casemgmt.fhir.parsing import resource_parse
from casemgmt.fhir.subscriptions import fhir_notification_deliver, fhir_notifications_sweep
from casemgmt.kernel.roles import Role
from casemgmt.outbox.models import OutboxTask
from tests import factories
from tests.casemgmt.cases.test_appeals import decide_appeal, every_line_of_business_policy, file_appeal
from tests.casemgmt.cases.test_webhooks import Receiver
from tests.casemgmt.fhir.conftest import shared_example
from tests.casemgmt.fhir.test_submit import moved_to_the_future, review_actions, submit
from tests.casemgmt.fhir.test_subscriptions import SUBSCRIPTION, signing_secret, subscription_body

EXAMPLE = "Bundle-MedicalServicesAuthorizationBundleExample.json"  # one item, answered A4 (pended)


@pytest.fixture
def subscriber(settings: Any) -> Iterator[Receiver]:
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture
def subscribed(db, fhir_api: APIClient, subscriber: Receiver, django_capture_on_commit_callbacks) -> dict[str, Any]:
    """The EHR's active subscription (its handshake delivered and set aside)."""
    with django_capture_on_commit_callbacks(execute=True):
        created = fhir_api.post(SUBSCRIPTION, subscription_body(subscriber.url), format="json").json()
    subscriber.received.clear()
    return created


def pended_pas_case(fhir_api: APIClient, django_capture_on_commit_callbacks) -> Case:
    with django_capture_on_commit_callbacks(execute=True):
        answer = submit(fhir_api, moved_to_the_future(shared_example(EXAMPLE)))
    assert review_actions(answer.json()) == ["A4"]
    return Case.objects.get()


def approve(case: Case, nurse: Any, django_capture_on_commit_callbacks) -> None:
    lines = [DecisionLineInput(service_line=line.sequence, outcome="approved") for line in case.lines.all()]
    with django_capture_on_commit_callbacks(execute=True):
        decision_record(case_id=case.pk, user=nurse, lines=lines, citations=[])


def notification_of(body: bytes) -> tuple[dict[str, Any], Bundle]:
    """The notification's SubscriptionStatus parameters and the PAS Response Bundle it carries."""
    bundle = resource_parse(json.loads(body), Bundle)  # validates as an R4 Bundle
    assert bundle.type == "history"
    status, pas = bundle.entry[0], bundle.entry[1]
    parameters = {p.name: p for p in status.resource.parameter}
    focus = {part.name: part for part in parameters["notification-event"].part}
    assert focus["focus"].valueReference.reference == pas.fullUrl
    assert isinstance(pas.resource, Bundle)
    return {**parameters, **focus}, pas.resource


def test_a_pended_requests_decision_reaches_the_subscriber_with_the_full_bundle(
    subscribed, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    assert not subscriber.received  # the $submit answer itself told the pend
    approve(case, nurse, django_capture_on_commit_callbacks)
    [(headers, body)] = subscriber.received
    status, pas = notification_of(body)
    assert status["subscription"].valueReference.reference.endswith(f"/Subscription/{subscribed['id']}")
    assert status["topic"].valueCanonical == PAS_SUBSCRIPTION_TOPIC
    assert (status["type"].valueCode, status["event-number"].valueString) == ("event-notification", "1")
    assert pas.meta.profile == [Profile.RESPONSE_BUNDLE]
    claim_response = pas.entry[0].resource
    assert {"system": System.CASE_NUMBER, "value": case.case_number} in [
        {"system": i.system, "value": i.value} for i in claim_response.identifier
    ]
    assert review_actions(json.loads(body)["entry"][1]["resource"]) == ["A1"]
    assert claim_response.preAuthRef
    timestamp, signature = (part.split("=", 1)[1] for part in headers["X-Casemgmt-Signature"].split(","))
    assert signature == webhook_signature(signing_secret(subscribed), timestamp, body)
    assert headers["Authorization"] == "Bearer subscriber-token"
    assert FhirNotification.objects.get(kind="event-notification").status == "delivered"


def test_a_delivered_notification_is_recorded_as_the_clients_view_of_the_request(
    subscribed, fhir_api, subscriber, nurse, integration_client, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    approve(case, nurse, django_capture_on_commit_callbacks)
    [row] = AuditEvent.objects.filter(action="view", case_number=case.case_number)
    assert (row.actor, row.object_type, row.channel) == (integration_client, "case", "task")
    assert row.detail["fhir_notification"] == FhirNotification.objects.get(kind="event-notification").pk


def test_each_change_of_state_is_numbered_in_order(
    subscribed, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        case_pend_for_information(case_id=case.pk, user=nurse, needed="The imaging report.")
    case.refresh_from_db()
    assert case.status == CaseStatus.PENDED
    approve(case, nurse, django_capture_on_commit_callbacks)
    numbers = [notification_of(body)[0]["event-number"].valueString for _, body in subscriber.received]
    assert numbers == ["1", "2"]
    assert FhirSubscription.objects.get().events_since_start == 2
    status = fhir_api.get(f"{SUBSCRIPTION}/{subscribed['id']}/$status").json()
    assert {"name": "events-since-subscription-start", "valueString": "2"} in status["entry"][0]["resource"][
        "parameter"
    ]


def test_a_failed_notification_is_retried_and_a_delivered_one_is_not_sent_twice(
    subscribed, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    subscriber.status = 500
    before = timezone.now()
    approve(case, nurse, django_capture_on_commit_callbacks)
    notification = FhirNotification.objects.get(kind="event-notification")
    assert (notification.status, notification.attempts, notification.last_error) == ("pending", 1, "HTTP 500")
    wait = notification.next_attempt_at - before
    assert webhook_retry_delay(1) <= wait < webhook_retry_delay(1) + timedelta(seconds=2)
    assert OutboxTask.objects.filter(args=[notification.pk], due_at=notification.next_attempt_at).exists()
    assert fhir_notification_deliver(notification_id=notification.pk) == "not due"
    subscriber.status = 200
    FhirNotification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
    assert fhir_notification_deliver(notification_id=notification.pk) == "delivered"
    assert fhir_notification_deliver(notification_id=notification.pk) == "done"
    assert len(subscriber.received) == 2
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("delivered", 2)


def test_a_notification_is_given_up_after_the_webhooks_attempts(
    subscribed, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    subscriber.status = 500
    approve(case, nurse, django_capture_on_commit_callbacks)
    notification = FhirNotification.objects.get(kind="event-notification")
    for _ in range(WEBHOOK_MAX_ATTEMPTS - 1):
        FhirNotification.objects.filter(pk=notification.pk).update(next_attempt_at=timezone.now())
        fhir_notification_deliver(notification_id=notification.pk)
    notification.refresh_from_db()
    assert (notification.status, notification.attempts) == ("failed", WEBHOOK_MAX_ATTEMPTS)
    assert len(subscriber.received) == WEBHOOK_MAX_ATTEMPTS


def test_the_sweeper_queues_again_a_notification_whose_message_was_lost(
    subscribed, fhir_api, subscriber, nurse, settings, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    lines = [DecisionLineInput(service_line=line.sequence, outcome="approved") for line in case.lines.all()]
    decision_record(case_id=case.pk, user=nurse, lines=lines, citations=[])  # its message never sent
    assert not subscriber.received
    later = timezone.now() + timedelta(seconds=settings.WEBHOOK_STALL_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert fhir_notifications_sweep(now=later) == 1
    assert len(subscriber.received) == 1
    assert FhirNotification.objects.get(kind="event-notification").status == "delivered"


def test_a_case_submitted_through_v1_sends_no_fhir_notification(
    subscribed, integration_client, subscriber, nurse, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = factories.case(integration_client)
    approve(case, nurse, django_capture_on_commit_callbacks)
    assert not subscriber.received
    assert not FhirNotification.objects.filter(kind="event-notification").exists()


def test_a_turned_off_subscription_is_notified_no_more(
    subscribed, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks
):
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    fhir_api.delete(f"{SUBSCRIPTION}/{subscribed['id']}")
    approve(case, nurse, django_capture_on_commit_callbacks)
    assert not subscriber.received


@pytest.mark.parametrize(("npi", "notified"), [("8189991234", 1), ("1234567893", 0)])
def test_an_org_filter_notifies_only_the_requests_of_that_provider(
    db, fhir_api, subscriber, nurse, django_capture_on_commit_callbacks, npi, notified
):
    org = {"url": Ext.BACKPORT_FILTER_CRITERIA, "valueString": f"orgIdentifier={System.NPI}|{npi}"}
    with django_capture_on_commit_callbacks(execute=True):
        fhir_api.post(SUBSCRIPTION, subscription_body(subscriber.url, _criteria={"extension": [org]}), format="json")
    subscriber.received.clear()
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    assert case.requesting_provider_npi == "8189991234"  # the example's requesting provider
    approve(case, nurse, django_capture_on_commit_callbacks)
    assert len(subscriber.received) == notified


def test_the_decision_of_an_appeal_of_a_pas_request_reaches_the_subscriber(
    subscribed, fhir_api, subscriber, physician, editor, integration_client, django_capture_on_commit_callbacks
):
    version = every_line_of_business_policy(editor)
    case = pended_pas_case(fhir_api, django_capture_on_commit_callbacks)
    denial = [DecisionLineInput(service_line=1, outcome="denied", reason="Not medically necessary.")]
    with django_capture_on_commit_callbacks(execute=True):
        decision_record(
            case_id=case.pk, user=physician, lines=denial, citations=[CitationInput(policy_version_id=version.pk)]
        )
        appeal = file_appeal(case, integration_client)
    assert review_actions(json.loads(subscriber.received[-1][1])["entry"][1]["resource"]) == ["A3"]
    second = factories.user("second.physician", Role.PHYSICIAN)
    with django_capture_on_commit_callbacks(execute=True):
        decide_appeal(appeal, second, version, "overturned")
    status, pas = notification_of(subscriber.received[-1][1])
    assert status["event-number"].valueString == "2"
    assert {"system": System.CASE_NUMBER, "value": case.case_number} in [
        {"system": i.system, "value": i.value} for i in pas.entry[0].resource.identifier
    ]
    assert review_actions(json.loads(subscriber.received[-1][1])["entry"][1]["resource"]) == ["A1"]
