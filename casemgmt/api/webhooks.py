"""Webhook registration."""

from __future__ import annotations

from urllib.parse import urlsplit

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.serializers import StrictSerializer
from casemgmt.cases.selectors import webhooks_of_client
from casemgmt.cases.services.webhooks import WEBHOOK_MAX_ATTEMPTS, webhook_subscribe
from casemgmt.kernel.http import AuthenticatedRequest


@extend_schema_serializer(component_name="WebhookDeliveryCounts")
class DeliveryCountsSerializer(serializers.Serializer):
    pending = serializers.IntegerField(
        source="pending_count", help_text="Notifications not yet delivered and still being tried."
    )
    failed = serializers.IntegerField(
        source="failed_count",
        help_text=f"Notifications given up on after {WEBHOOK_MAX_ATTEMPTS} failed attempts "
        "(or because the URL is no longer allowed).",
    )


@extend_schema_serializer(component_name="WebhookFailedDelivery")
class FailedDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="As sent in the X-Casemgmt-Delivery header.")
    case_number = serializers.CharField(source="payload.case_number")
    event = serializers.CharField(source="payload.event")
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(help_text="Why the last attempt failed, e.g. HTTP 500.")
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)


class WebhooksApi(APIView):
    """`POST` registers a webhook for status changes; `GET` lists the caller's webhooks, each with
    its deliveries still being tried and the notifications given up on."""

    @extend_schema_serializer(component_name="WebhookInput")
    class InputSerializer(StrictSerializer):
        url = serializers.URLField(max_length=500)

        def validate_url(self, value: str) -> str:
            try:
                urlsplit(value).port  # noqa: B018 - raises on a port out of range, which URLField lets through
            except ValueError as exc:
                raise serializers.ValidationError(str(exc)) from exc
            return value

    @extend_schema_serializer(component_name="Webhook")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        url = serializers.CharField()
        active = serializers.BooleanField()
        created_at = serializers.DateTimeField()

    @extend_schema_serializer(component_name="WebhookCreated")
    class CreatedSerializer(OutputSerializer):
        secret = serializers.CharField(help_text="HMAC-SHA256 signing key. Shown once: store it.")

    @extend_schema_serializer(component_name="WebhookWithDeliveries")
    class ListedSerializer(OutputSerializer):
        deliveries = DeliveryCountsSerializer(source="*")
        failed_deliveries = FailedDeliverySerializer(
            source="recent_failures",
            many=True,
            help_text="The latest notifications given up on, newest first (at most 10). The case's "
            "current status is at GET /api/v1/cases/{case_number}.",
        )

    @extend_schema(
        operation_id="webhooks_list",
        responses={200: ListedSerializer(many=True), **error_responses(400, 401, 429, 503)},
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        hooks = webhooks_of_client(request.user.pk)
        return Response(self.ListedSerializer(hooks, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=InputSerializer,
        responses={201: CreatedSerializer, **error_responses(400, 401, 403, 413, 415, 429, 503)},
        summary="Register a webhook; each status change of your cases is POSTed to it, signed",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook, secret = webhook_subscribe(client=request.user, url=serializer.validated_data["url"])
        hook.refresh_from_db()
        body = {**self.OutputSerializer(hook).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)
