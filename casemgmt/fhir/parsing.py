"""FHIR JSON in and out through the `fhir.resources` models, and the OperationOutcome that names
every problem by the FHIRPath of its element.

The models are the R4B package's: no release for pydantic 2 ships R4 (4.0.1) models, and the
resources the door reads and writes have the same shape in both (docs/decisions/0004-fhir-door.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.operationoutcome import OperationOutcome, OperationOutcomeIssue
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

R = TypeVar("R", bound=Resource)


@dataclass(frozen=True)
class FhirProblem:
    """One problem in what a client sent: where (a FHIRPath), what, and its issue type."""

    path: str
    message: str
    code: str = "invalid"  # http://hl7.org/fhir/issue-type
    severity: str = "error"


class FhirInvalid(Exception):
    """What was sent is not valid FHIR or breaks the guide's rules; nothing was stored."""

    status_code = 400

    def __init__(self, problems: list[FhirProblem]) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems


class PasNotReviewable(FhirInvalid):
    """A valid request for a member or service this plan cannot review: the guide's answer is an
    error Response Bundle (ClaimResponse.outcome = error), not an OperationOutcome."""

    def __init__(self, problems: list[FhirProblem], reject_reason: str) -> None:
        super().__init__(problems)
        self.reject_reason = reject_reason


class FhirRefused(FhirInvalid):
    """Understood, but refused as a whole for a reason that is not a field's (403, 404, 409, 422)."""

    def __init__(self, message: str, *, status_code: int, code: str = "processing", path: str = "") -> None:
        super().__init__([FhirProblem(path=path, message=message, code=code)])
        self.status_code = status_code


def models_warm() -> None:
    """Build the models' validators once per process (the first validation builds them)."""
    Bundle.model_validate({"resourceType": "Bundle", "type": "collection"})


def fhirpath(root: str, loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as a FHIRPath: ('entry', 0, 'resource', 'item') -> Bundle.entry[0].resource.item."""
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _resource_types(data: Any, root: str) -> list[FhirProblem]:
    """Unknown `resourceType`s, which the models cannot even report, found before they parse."""
    problems: list[FhirProblem] = []
    if not isinstance(data, dict):
        return [FhirProblem(path=root, message="must be a JSON object", code="structure")]
    for i, entry in enumerate(data.get("entry") or []) if isinstance(data.get("entry"), list) else []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict):
            kind = resource.get("resourceType")
            if not _is_resource_type(kind):
                problems.append(
                    FhirProblem(
                        path=f"{root}.entry[{i}].resource.resourceType",
                        message=f"{kind!r} is not a FHIR R4 resource type",
                        code="structure",
                    )
                )
    return problems


def _is_resource_type(kind: Any) -> bool:
    try:
        model = get_fhir_model_class(str(kind))
    except (KeyError, ValueError):
        return False
    return issubclass(model, Resource)


def resource_parse(data: Any, model: type[R]) -> R:
    """`data` (parsed JSON) as the FHIR resource `model`, or FhirInvalid naming every problem."""
    root = model.get_resource_type()
    if not isinstance(data, dict):
        raise FhirInvalid([FhirProblem(path=root, message="must be a JSON object", code="structure")])
    kind = data.get("resourceType")
    if kind != root:
        raise FhirInvalid(
            [FhirProblem(path=f"{root}.resourceType", message=f"must be {root!r}, not {kind!r}", code="structure")]
        )
    problems = _resource_types(data, root)
    if problems:
        raise FhirInvalid(problems)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FhirInvalid(
            [
                FhirProblem(path=fhirpath(root, tuple(error["loc"])), message=str(error["msg"]), code="structure")
                for error in exc.errors()
            ]
        ) from None


def resource_json(resource: Resource) -> dict[str, Any]:
    """A resource as FHIR JSON, validated by its model on the way out."""
    document = resource.model_dump(mode="json", exclude_none=True, by_alias=True)
    # The dumped JSON is what is validated and sent: dumping the validated copy again would give
    # the same document at the cost of a second dump, the costliest step.
    type(resource).model_validate(document)
    return document


def operation_outcome(problems: list[FhirProblem]) -> OperationOutcome:
    return OperationOutcome(
        issue=[
            OperationOutcomeIssue(
                severity=problem.severity,
                code=problem.code,
                diagnostics=problem.message,
                expression=[problem.path] if problem.path else None,
                details=CodeableConcept(text=problem.message),
            )
            for problem in problems
        ]
    )
