"""The benchmark's baseline: the same web stack as `POST /api/v1/cases`, with trivial work.

It goes through the same middleware, bearer-token authentication, throttling, JSON parsing,
strict validation and error handling as the real endpoint, then inserts one row into a table of
its own (`bench_baseline`, created by run.py with raw SQL, TABLE_DDL: no model, no migration) and returns
201. What the intake endpoint costs beyond this is the domain work: codes, NPI and diagnosis
checks, the deadline, the case and its lines, flagging against the policy index, the events.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from casemgmt.api.serializers import StrictSerializer


class BaselineInput(StrictSerializer):
    external_id = serializers.CharField(max_length=100)
    code = serializers.CharField(max_length=10)
    units = serializers.IntegerField(min_value=1, max_value=10_000)


class BaselineApi(APIView):
    def post(self, request: Request) -> Response:
        serializer = BaselineInput(data=request.data)
        serializer.is_valid(raise_exception=True)
        v: dict[str, Any] = serializer.validated_data
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_baseline (client_id, external_id, code, units) VALUES (%s, %s, %s, %s) RETURNING id",
                [request.user.pk, v["external_id"], v["code"], v["units"]],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id, **v}, status=status.HTTP_201_CREATED)
