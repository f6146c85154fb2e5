"""Managers' API for retrospective review runs: start one, follow its progress, cancel it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.errors import error_responses
from casemgmt.api.replay import IDEMPOTENCY_PARAMETER, idempotent_response
from casemgmt.api.serializers import StrictSerializer
from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.http import AuthenticatedRequest
from casemgmt.kernel.roles import Role, has_role
from casemgmt.retro import selectors, services
from casemgmt.retro.models import RetroOrigin, RetroRun
from policies_app.models import LineOfBusiness

# More than 0, at most 100, at most two decimal places: what the service's own check of a
# sample percent takes (retro.services.retro_run_request_problems).
PERCENT_PATTERN = r"^(?:100(?:\.0{1,2})?|[1-9][0-9]?(?:\.[0-9]{1,2})?|0?\.(?:0[1-9]|[1-9][0-9]?))$"


@extend_schema_field({"type": "string", "format": "decimal", "pattern": PERCENT_PATTERN})
class _PercentField(serializers.DecimalField):
    """Reads and answers as a DecimalField; the schema says what the service then takes."""


def _require_manager(request: AuthenticatedRequest) -> None:
    # Before any lookup: a non-manager learns nothing about which runs exist.
    if not has_role(request.user, Role.MANAGER):
        raise PermissionDeniedError("Only a manager may start, follow or cancel a retrospective review.")


@extend_schema_serializer(component_name="RetroRun")
class RetroRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.CharField()
    requested_via = serializers.CharField()
    status = serializers.CharField()
    policy_id = serializers.IntegerField(allow_null=True)
    policy_version_id = serializers.IntegerField(allow_null=True)
    date_from = serializers.DateField(allow_null=True)
    date_to = serializers.DateField(allow_null=True)
    line_of_business = serializers.CharField()
    # A float, as the JSON answer carries it: the answer is also stored for an Idempotency-Key
    # replay, as JSON, which has no decimal type.
    sample_percent = serializers.FloatField(allow_null=True)
    seed = serializers.IntegerField()
    started_by = serializers.SerializerMethodField()
    selected = serializers.IntegerField()
    evaluated = serializers.IntegerField()
    discrepancies = serializers.IntegerField()
    failed = serializers.IntegerField()
    percent_done = serializers.IntegerField(help_text="Cases processed (evaluated or failed) of those selected.")
    chunk_count = serializers.IntegerField()
    chunks_done = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_started_by(self, obj: RetroRun) -> str | None:
        return obj.started_by.get_username() if obj.started_by else None


def _run(request: AuthenticatedRequest, run_id: int) -> RetroRun:
    run = selectors.runs_visible_to(request.user).filter(pk=run_id).first()
    if run is None:
        raise NotFound("No such retrospective run.")
    return run


class RetroRunCollectionApi(APIView):
    @extend_schema_serializer(component_name="RetroRunInput")
    class InputSerializer(StrictSerializer):
        policy_id = serializers.IntegerField(min_value=1)
        date_from = serializers.DateField(help_text="First date of service covered.")
        date_to = serializers.DateField(help_text="Last date of service covered.")
        # Left out, the run covers every line of business (RunRequest's default).
        line_of_business = serializers.ChoiceField(choices=LineOfBusiness.values, required=False)
        sample_percent = _PercentField(
            max_digits=5,
            decimal_places=2,
            min_value=0,
            max_value=100,
            required=False,
            allow_null=True,
            default=None,
            help_text="Review a random sample of this percent of the selected cases (more than 0, at most 100).",
        )

    @extend_schema(
        operation_id="retro_runs_create",
        request=InputSerializer,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={201: RetroRunOutputSerializer, **error_responses(400, 401, 403, 409, 413, 415, 422, 429, 503)},
        summary="Start a retrospective review of a policy's decided cases (managers)",
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        _require_manager(request)

        def start() -> tuple[int, Any]:
            serializer = self.InputSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            run = services.retro_run_request(
                user=request.user,
                request=services.RunRequest(**serializer.validated_data),
                origin=RetroOrigin.API,
            )
            run.refresh_from_db()
            return status.HTTP_201_CREATED, RetroRunOutputSerializer(run).data

        # A run's answer names no member: its replay is no read of member data.
        return idempotent_response(request, start, replay=None)


class RetroRunDetailApi(APIView):
    @extend_schema(
        operation_id="retro_runs_retrieve",
        responses={200: RetroRunOutputSerializer, **error_responses(400, 401, 403, 404, 429, 503)},
        summary="Read a retrospective review run and its progress (managers)",
    )
    def get(self, request: AuthenticatedRequest, run_id: int) -> Response:
        _require_manager(request)
        return Response(RetroRunOutputSerializer(_run(request, run_id)).data)


class RetroRunCancelApi(APIView):
    @extend_schema(
        operation_id="retro_runs_cancel",
        request=None,
        parameters=[IDEMPOTENCY_PARAMETER],
        responses={200: RetroRunOutputSerializer, **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)},
        summary="Cancel a queued or running retrospective review (managers)",
    )
    def post(self, request: AuthenticatedRequest, run_id: int) -> Response:
        _require_manager(request)
        run = _run(request, run_id)

        def cancel() -> tuple[int, Any]:
            cancelled = services.retro_run_cancel(run_id=run.pk, user=request.user)
            return status.HTTP_200_OK, RetroRunOutputSerializer(cancelled).data

        return idempotent_response(request, cancel, replay=None)
