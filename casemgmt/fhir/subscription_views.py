"""PAS subscriptions (the R4 Subscriptions Backport): create, read, update, turn off, and `$status`."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response

from casemgmt.fhir.auth import client_of, scope_allows
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.parsing import resource_json
from casemgmt.fhir.subscriptions import (
    subscription_create,
    subscription_of_client,
    subscription_off,
    subscription_resource,
    subscription_status_bundle,
    subscription_update,
)


class SubscriptionCollectionView(FhirView):
    """POST /fhir/r4/Subscription: the client's subscription to the PAS topic (one per client)."""

    scope = ("Subscription", "write")

    def post(self, request: Request) -> Response:
        base = request.build_absolute_uri(reverse("fhir:metadata")).rsplit("/metadata", 1)[0]
        subscription, secret = subscription_create(client=client_of(request), document=request.data, base_url=base)
        # With no broker the handshake has already run at the commit; with one it is on its way.
        subscription.refresh_from_db()
        return Response(
            resource_json(subscription_resource(subscription, secret=secret)),
            status=201,
            headers={"Location": f"{base}/Subscription/{subscription.pk}"},
        )


class SubscriptionView(FhirView):
    """GET /fhir/r4/Subscription/<id> (read scope); PUT changes it and DELETE turns it off (write scope)."""

    scope = ("Subscription", "read")

    def get(self, request: Request, subscription_id: int) -> Response:
        subscription = subscription_of_client(client=client_of(request), subscription_id=subscription_id)
        return Response(resource_json(subscription_resource(subscription)))

    def put(self, request: Request, subscription_id: int) -> Response:
        require_write(request)
        subscription = subscription_update(
            client=client_of(request), subscription_id=subscription_id, document=request.data
        )
        return Response(resource_json(subscription_resource(subscription)))

    def delete(self, request: Request, subscription_id: int) -> Response:
        require_write(request)
        subscription = subscription_off(client=client_of(request), subscription_id=subscription_id)
        return Response(resource_json(subscription_resource(subscription)))


def require_write(request: Request) -> None:
    if not scope_allows(getattr(request.auth, "scopes", frozenset()), "Subscription", "write"):
        raise exceptions.PermissionDenied(
            "The access token's scopes do not allow this: it needs system/Subscription.write."
        )


class SubscriptionStatusView(FhirView):
    """GET /fhir/r4/Subscription/<id>/$status: the backport's SubscriptionStatus, in a Bundle."""

    scope = ("Subscription", "read")

    def get(self, request: Request, subscription_id: int) -> Response:
        subscription = subscription_of_client(client=client_of(request), subscription_id=subscription_id)
        return Response(resource_json(subscription_status_bundle(subscription)))
