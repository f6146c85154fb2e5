"""What the API's views share: the strict input base, the input fields whose schema states what a
service checks after them, and the output shapes of cases and decisions."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import (
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers

from casemgmt.cases.models import (
    X12_REVIEW_ACTION,
    AuthorizationStatus,
    Citation,
    DecisionLine,
    LineOutcome,
    ReviewerRole,
    ServiceLine,
)
from casemgmt.kernel.json_input import INTEGER_LIMIT

MAX_LINES = 50
MAX_DIAGNOSES = 25
MAX_NOTES = 20_000
MAX_UNITS = 10_000

# The forms the services check codes and NPIs against (casemgmt.cases.validation,
# policies_app.codes), as ECMA-262 patterns for the schema. The services read a code after
# trimming it and putting it in upper case, so the patterns take lower case too.
NPI_PATTERN = r"^[0-9]{10}$"
_CPT = r"[0-9]{4}[0-9FTUftu]"
_HCPCS = r"[A-Va-v][0-9]{4}"
CPT_PATTERN = f"^{_CPT}$"
HCPCS_PATTERN = f"^{_HCPCS}$"
PROCEDURE_CODE_PATTERN = f"^(?:{_CPT}|{_HCPCS})$"
ICD10CM_PATTERN = r"^[A-Za-z][0-9A-Za-z]{2}(?:\.?[0-9A-Za-z]{1,4})?$"
MODIFIER_PATTERN = r"^[A-Za-z0-9]{2}$"
# Holds a character that Python's str.strip() keeps (one not str.isspace()): a string that may
# not be blank must, as DRF's CharField and the services trim before they look.
NOT_BLANK_PATTERN = r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

# The fields below read and refuse exactly as the DRF field they extend: the service checks the
# rest and names the problem in its own words. They only let the schema say what that check
# takes (a code's form; whether the code exists is the service's answer).


@extend_schema_field(
    {"type": "string", "pattern": NPI_PATTERN, "description": "Ten digits, the last a check digit (Luhn)."}
)
class NpiField(serializers.CharField):
    """An NPI; the intake service checks its form and check digit (casemgmt.cases.validation)."""


@extend_schema_field(
    {
        "type": "string",
        "pattern": PROCEDURE_CODE_PATTERN,
        "description": "CPT: four digits and a digit, F, T or U. HCPCS Level II: a letter A-V and four digits.",
    }
)
class ProcedureCodeField(serializers.CharField):
    """A CPT or HCPCS code; its form is checked for its code system (policies_app.codes)."""


@extend_schema_field(
    {
        "type": "array",
        "items": {
            "type": "string",
            "pattern": ICD10CM_PATTERN,
            "minLength": 1,
            "maxLength": 10,
            "description": "A billable ICD-10-CM code (a leaf such as M48.062, not a category such as "
            "M48.06), with or without its dot.",
        },
        "uniqueItems": True,
    }
)
class DiagnosisCodesField(serializers.ListField):
    """ICD-10-CM codes; the intake service checks that the code set has each as a billable code,
    and that none is listed twice (as it reads them: m48.062 and M48062 are the same code)."""


@extend_schema_field({"type": "string", "pattern": MODIFIER_PATTERN, "description": "Two letters or digits."})
class ModifierField(serializers.CharField):
    """A procedure code modifier; the intake service checks its form."""


@extend_schema_field({"type": "integer", "maximum": MAX_LINES})
class LineNumberField(serializers.IntegerField):
    """A service line's number on its case: the decision service says whether the case has it."""


@extend_schema_field({"type": "integer", "maximum": MAX_UNITS})
class ApprovedUnitsField(serializers.IntegerField):
    """Never more than the line requested: the decision service checks it against the line."""


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {
            "anyOf": [
                {"type": "number", "minimum": -INTEGER_LIMIT - 1, "maximum": INTEGER_LIMIT},
                {"type": "boolean"},
                {"type": "string"},
                {"type": "array", "items": {"type": "string"}},
            ]
        },
        "description": "Facts from the plan's fact catalogue, by key: each a number, true or false, "
        "text, a date (YYYY-MM-DD) or a list of codes, as the catalogue says.",
    }
)
class ClinicalFactsField(serializers.DictField):
    """The intake service checks each fact against the catalogue (casemgmt.cases.validation.check_facts)."""


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a client's typo is an error rather than lost data."""

    # The docstring above is every request object's description in the schema, where
    # casemgmt.api.schema also says additionalProperties: false. `schema_any_of` states a rule
    # across fields that a service checks, as OpenAPI anyOf alternatives of the object.
    schema_any_of: ClassVar[list[dict[str, Any]]] = []

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


class LineAuthorizationSerializer(serializers.Serializer):
    """The authorization a claim for this service is paid against: the latest one of the service,
    which a later case (an appeal, an extension) may have issued."""

    authorization_number = serializers.CharField()
    status = serializers.ChoiceField(choices=AuthorizationStatus.values, source="current_status")
    case_number = serializers.CharField(source="case.case_number")
    approved_units = serializers.IntegerField()
    valid_from = serializers.DateField()
    valid_to = serializers.DateField()


def line_reason_shown(line: DecisionLine) -> str:
    """A line's reason as the requester sees it: a referred line's is the reviewer's note to the
    physician, internal to the plan."""
    return "" if line.outcome == LineOutcome.REFERRED else line.reason


class LineDeterminationSerializer(serializers.Serializer):
    """Where the line stands in the case's decision of record: its outcome and X12 306 review
    action (NA for a service that needs no authorization), and whether intake answered it."""

    outcome = serializers.ChoiceField(choices=LineOutcome.values)
    outcome_label = serializers.CharField(source="get_outcome_display")
    review_action_code = serializers.SerializerMethodField()
    approved_units = serializers.IntegerField(allow_null=True)
    reason = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(source="decision.decided_at")
    decided_automatically = serializers.SerializerMethodField(
        help_text="Answered at intake by the plan's rules (no authorization required, or approved "
        "automatically), not by a reviewer."
    )

    def get_review_action_code(self, obj: DecisionLine) -> str:
        return X12_REVIEW_ACTION[LineOutcome(obj.outcome)]

    def get_reason(self, obj: DecisionLine) -> str:
        return line_reason_shown(obj)

    def get_decided_automatically(self, obj: DecisionLine) -> bool:
        # A restated line says who first decided it: intake, or a reviewer before a referral.
        origin = obj.carried_from if obj.carried_from_id is not None else obj
        assert origin is not None
        return origin.decision.decided_role == ReviewerRole.AUTOMATED


class ServiceLineOutputSerializer(serializers.Serializer):
    sequence = serializers.IntegerField()
    code_system = serializers.CharField()
    code = serializers.CharField()
    modifiers = serializers.ListField(child=serializers.CharField())
    units = serializers.IntegerField()
    date_of_service = serializers.DateField()
    description = serializers.CharField()
    authorization = serializers.SerializerMethodField()

    determination = serializers.SerializerMethodField()

    @extend_schema_field(LineAuthorizationSerializer(allow_null=True))
    def get_authorization(self, obj: ServiceLine) -> dict[str, Any] | None:
        found = self.context.get("authorizations", {}).get(obj.pk)
        return None if found is None else dict(LineAuthorizationSerializer(found).data)

    @extend_schema_field(LineDeterminationSerializer(allow_null=True))
    def get_determination(self, obj: ServiceLine) -> dict[str, Any] | None:
        found = self.context.get("determinations", {}).get(obj.pk)
        return None if found is None else dict(LineDeterminationSerializer(found).data)


class CaseOutputSerializer(serializers.Serializer):
    case_number = serializers.CharField()
    external_id = serializers.CharField()
    status = serializers.CharField()
    urgency = serializers.CharField()
    line_of_business = serializers.CharField()
    plan_id = serializers.CharField()
    review_type = serializers.CharField()
    appeal_of = serializers.CharField(source="appeal_of.case_number", allow_null=True, default=None)
    appeal_requested_by = serializers.CharField()
    extension_of = serializers.CharField(source="extension_of.authorization_number", allow_null=True, default=None)
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()
    service_lines = ServiceLineOutputSerializer(many=True, source="lines.all")
    flags = FlagOutputSerializer(many=True, source="current_flags")


@extend_schema_serializer(component_name="DecisionOutputCitation")
class DecisionCitationSerializer(CitationOutputSerializer):
    version = serializers.CharField(source="version_label")
    content_sha256 = serializers.CharField()
    service_line = serializers.SerializerMethodField(
        help_text="The line the citation supports; null for one recorded for the whole decision."
    )

    def get_service_line(self, obj: Citation) -> int | None:
        if obj.decision_line_id is None:
            return None
        sequences = {line.pk: line.service_line.sequence for line in obj.decision.lines.all()}
        return sequences.get(obj.decision_line_id)


class DecisionOutputSerializer(serializers.Serializer):
    @extend_schema_serializer(component_name="DecisionOutputLine")
    class LineSerializer(serializers.Serializer):
        service_line = serializers.IntegerField(source="service_line.sequence")
        outcome = serializers.CharField()
        review_action_code = serializers.SerializerMethodField()
        approved_units = serializers.IntegerField(allow_null=True)
        reason = serializers.SerializerMethodField()
        reason_code = serializers.CharField(
            source="reason_code.code",
            allow_null=True,
            help_text="The plan's review decision reason code (X12 list 886) of an adverse line, if given.",
        )
        citations = serializers.SerializerMethodField()

        def get_review_action_code(self, obj: DecisionLine) -> str:
            return X12_REVIEW_ACTION[LineOutcome(obj.outcome)]

        def get_reason(self, obj: DecisionLine) -> str:
            return line_reason_shown(obj)

        @extend_schema_field(DecisionCitationSerializer(many=True))
        def get_citations(self, obj: DecisionLine) -> list[Any]:
            """The line's own citations; one recorded for the whole decision applies to it too."""
            cited = [c for c in obj.decision.citations.all() if c.decision_line_id in (None, obj.pk)]
            return list(DecisionCitationSerializer(cited, many=True).data)

    CitationSerializer = DecisionCitationSerializer

    id = serializers.IntegerField()
    decided_at = serializers.DateTimeField()
    decided_by = serializers.CharField(source="decided_by.get_username")
    decided_role = serializers.CharField()
    rationale = serializers.CharField()
    supersedes = serializers.IntegerField(source="supersedes_id", allow_null=True)
    lines = LineSerializer(many=True, source="lines.all")
    citations = CitationSerializer(many=True, source="citations.all")
