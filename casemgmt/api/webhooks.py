"""Webhook registration."""

from __future__ import annotations

from urllib.parse import urlsplit

from drf_spectacular.utils import (
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.serializers import StrictSerializer
from casemgmt.cases.models import (
    WebhookSubscription,
)
from casemgmt.cases.services.webhooks import webhook_subscribe


class WebhooksApi(APIView):
    """`POST` registers a webhook for status changes; `GET` lists the caller's webhooks."""

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

    @extend_schema(
        operation_id="webhooks_list", responses={200: OutputSerializer(many=True), **error_responses(401, 429)}
    )
    def get(self, request: Request) -> Response:
        hooks = WebhookSubscription.objects.filter(client=request.user.pk).order_by("id")
        return Response(self.OutputSerializer(hooks, many=True).data)

    @extend_schema(
        operation_id="webhooks_create",
        request=InputSerializer,
        responses={201: CreatedSerializer, **error_responses(400, 401, 403, 415, 429)},
        summary="Register a webhook; each status change of your cases is POSTed to it, signed",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        hook, secret = webhook_subscribe(
            client=request.user,  # type: ignore[arg-type]
            url=serializer.validated_data["url"],
        )
        hook.refresh_from_db()
        body = {**self.OutputSerializer(hook).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)
