"""What the API's answers share: the strict input base and the output shapes of cases and decisions."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import (
    extend_schema_serializer,
)
from rest_framework import serializers

from casemgmt.cases.models import (
    X12_REVIEW_ACTION,
    DecisionLine,
    LineOutcome,
)

MAX_LINES = 50
MAX_DIAGNOSES = 25
MAX_NOTES = 20_000


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a client's typo is an error rather than lost data."""

    def to_internal_value(self, data: Any) -> Any:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["This field is not part of the request."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report every problem at once, the unknown fields beside the invalid ones.
            raise serializers.ValidationError({**exc.detail, **errors}) from exc  # type: ignore[dict-item]
        if errors:
            raise serializers.ValidationError(errors)
        return value


class CitationOutputSerializer(serializers.Serializer):
    policy_version_id = serializers.IntegerField()
    payer = serializers.CharField()
    policy_number = serializers.CharField()
    policy_title = serializers.CharField()
    version = serializers.CharField()
    effective_start = serializers.DateField(allow_null=True)
    effective_end = serializers.DateField(allow_null=True)
    coverage_position = serializers.CharField()
    criterion = serializers.CharField()


class FlagOutputSerializer(serializers.Serializer):
    service_line = serializers.IntegerField(source="service_line.sequence")
    kind = serializers.CharField()
    severity = serializers.CharField()
    message = serializers.CharField()
    citation = CitationOutputSerializer(allow_null=True)


class ServiceLineOutputSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    code_system = serializers.CharField()
    code = serializers.CharField()
    modifiers = serializers.ListField(child=serializers.CharField())
    units = serializers.IntegerField()
    date_of_service = serializers.DateField()
    description = serializers.CharField()


class CaseOutputSerializer(serializers.Serializer):
    case_number = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    line_of_business = serializers.CharField()
    review_type = serializers.CharField()
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    service_lines = ServiceLineOutputSerializer(many=True, source="lines.all")
    flags = FlagOutputSerializer(many=True, source="current_flags")


class DecisionOutputSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="DecisionOutputLine")
    class LineSerializer(serializers.Serializer):
        service_line = serializers.IntegerField(source="service_line.sequence")
        outcome = serializers.CharField()
        review_action_code = serializers.SerializerMethodField()
        approved_units = serializers.IntegerField(allow_null=True)
        reason = serializers.CharField()

        def get_review_action_code(self, obj: DecisionLine) -> str:
            return X12_REVIEW_ACTION[LineOutcome(obj.outcome)]

    @extend_schema_serializer(component_name="DecisionOutputCitation")
    class CitationSerializer(CitationOutputSerializer):
        version = serializers.CharField(source="version_label")
        content_sha256 = serializers.CharField()

    id = serializers.IntegerField()
    decided_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.get_username")
    decided_role = serializers.CharField()
    rationale = serializers.CharField()
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    lines = LineSerializer(many=True, source="lines.all")
    citations = CitationSerializer(many=True, source="citations.all")
