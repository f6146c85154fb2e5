"""The OpenAPI schema states what the server enforces, so a request that fits it gets past validation.

drf-spectacular reads each field's type, choices, lengths and range; the field classes in
casemgmt.api.serializers add the forms of codes and NPIs. This postprocessing hook adds what
drf-spectacular does not say, to each component built from a StrictSerializer (every request
object):

- `additionalProperties: false`: StrictSerializer refuses a field it does not know;
- `minItems`/`maxItems` of a list of objects (`many=True` with min_length/max_length);
- `minimum`/`maximum` of an integer to the signed 64-bit range, where the field sets no tighter
  bound: the JSON parser refuses any integer beyond it (casemgmt.kernel.json_input.INTEGER_LIMIT);
- a pattern saying a string may not be blank where the field does not allow it: DRF trims
  surrounding whitespace first, so " " is blank too;
- the serializer's `schema_any_of`: a rule across its fields that a service checks; a request
  body that must then hold something is marked required.

What no schema keyword can say (an NPI's check digit, whether an ICD-10-CM code exists, a date of
service within its window, what a case holds) stays with the service, which answers 400 naming
the field.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers
from rest_framework.request import Request

from casemgmt.api.serializers import NOT_BLANK_PATTERN, StrictSerializer
from casemgmt.kernel.json_input import INTEGER_LIMIT


def v1_endpoints_only(endpoints: list[tuple[str, str, str, Any]]) -> list[tuple[str, str, str, Any]]:
    """The endpoints of this schema: /api/ (the FHIR and CDS Hooks endpoints follow their own
    standards and are described by their CapabilityStatement and discovery document)."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith("/api/")]


def strict_request_objects(
    result: dict[str, Any], generator: SchemaGenerator, request: Request | None, public: bool
) -> dict[str, Any]:
    """drf-spectacular's POSTPROCESSING_HOOKS interface; see the module docstring."""
    schemas: dict[str, Any] = result.get("components", {}).get("schemas", {})
    for name, schema in schemas.items():
        try:
            built_from = generator.registry[ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA)].object
        except KeyError:
            continue  # a component from the settings, built from no serializer
        serializer = built_from() if isinstance(built_from, type) else built_from
        if isinstance(serializer, StrictSerializer):
            _state_rules(schema, serializer)
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if body and any(_refuses_empty(media.get("schema", {}), schemas) for media in body["content"].values()):
                body["required"] = True
    return result


def _refuses_empty(schema: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether no body (read as {}) is refused: some field is required, or each anyOf alternative requires one."""
    reference = schema.get("$ref", "")
    schema = schemas.get(reference.rpartition("/")[2], schema) if reference else schema
    alternatives = schema.get("anyOf", [])
    return bool(schema.get("required")) or (bool(alternatives) and all(a.get("required") for a in alternatives))


def _state_rules(schema: dict[str, Any], serializer: StrictSerializer) -> None:
    schema["additionalProperties"] = False
    properties: dict[str, Any] = schema.get("properties", {})
    for name, field in serializer.fields.items():
        if name in properties:
            _state_field_rules(properties[name], field)
    if serializer.schema_any_of:
        schema["anyOf"] = serializer.schema_any_of


def _state_field_rules(schema: dict[str, Any], field: serializers.Field) -> None:
    if isinstance(field, serializers.ListSerializer):
        # DRF's ListSerializer keeps them as attributes; the stubs do not declare them.
        if (min_length := getattr(field, "min_length", None)) is not None:
            schema["minItems"] = min_length
        if (max_length := getattr(field, "max_length", None)) is not None:
            schema["maxItems"] = max_length
    elif isinstance(field, serializers.ListField) and "items" in schema:
        _state_field_rules(schema["items"], field.child)
    elif schema.get("type") == "integer":
        schema.setdefault("minimum", -INTEGER_LIMIT - 1)
        schema.setdefault("maximum", INTEGER_LIMIT)
    elif (
        isinstance(field, serializers.CharField)
        and field.trim_whitespace
        and not field.allow_blank
        and schema.get("type") == "string"
        and not {"pattern", "format", "enum"} & schema.keys()
    ):
        schema["pattern"] = NOT_BLANK_PATTERN
