"""What the importer found in one document: fields with their source spans, and the criteria tree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

# Below this an extracted field is shown to the editor as needing confirmation.
REVIEW_THRESHOLD = 0.8
# The position that makes coverage depend on criteria: a document stating it lists them somewhere.
WITH_CRITERIA = "medically_necessary_with_criteria"


@dataclass(frozen=True)
class Source:
    """A span of the document's normalized text: `text == normalized[start:end]`."""

    start: int
    end: int
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "text": self.text}


@dataclass(frozen=True)
class Field:
    value: Any
    source: Source
    confidence: float

    def as_json(self) -> dict[str, Any]:
        return {"value": plain(self.value), "source": self.source.as_json(), "confidence": round(self.confidence, 2)}


@dataclass
class Criterion:
    """A node of the criteria tree as the document states it.

    `node_type` is one of the model's CriterionNodeType values; a leaf names the catalogue fact
    it tests (`fact`, `operator`, `value`), a documented node has only its text.
    """

    node_type: str
    label: str
    source: Source
    confidence: float
    min_met: int | None = None
    fact: str | None = None
    operator: str = ""
    value: Any = None
    children: list[Criterion] = field(default_factory=list)

    def leaves(self) -> list[Criterion]:
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "type": self.node_type,
            "label": self.label,
            "source": self.source.as_json(),
            "confidence": round(self.confidence, 2),
        }
        if self.node_type == "at_least":
            data["min_met"] = self.min_met
        if self.fact is not None:
            data["fact"] = {"key": self.fact, "operator": self.operator, "value": plain(self.value)}
        if self.children:
            data["children"] = [child.as_json() for child in self.children]
        return data


@dataclass
class ImportResult:
    file: str
    layout: str
    text: str = ""
    fields: dict[str, Field | list[Field]] = field(default_factory=dict)
    criteria: list[Criterion] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def one(self, name: str) -> Field | None:
        found = self.fields.get(name)
        return found if isinstance(found, Field) else None

    def many(self, name: str) -> list[Field]:
        found = self.fields.get(name)
        return found if isinstance(found, list) else []

    def value(self, name: str, default: Any = None) -> Any:
        found = self.one(name)
        return found.value if found is not None else default

    def criteria_unread(self) -> Field | None:
        """The position stating that coverage depends on criteria, when no criteria list was read.

        A layout the importer does not know can hide its list; the editor is then asked to enter the
        criteria rather than shown a draft that silently has none.
        """
        if self.criteria:
            return None
        return next((f for f in self.many("positions") if f.value.get("position") == WITH_CRITERIA), None)

    def needs_review(self) -> list[str]:
        """The fields (and criteria) whose confidence is below the threshold, by name."""
        names: list[str] = []
        for name, found in self.fields.items():
            items = found if isinstance(found, list) else [found]
            if any(item.confidence < REVIEW_THRESHOLD for item in items):
                names.append(name)
        if self.criteria_unread() is not None or any(
            node.confidence < REVIEW_THRESHOLD for root in self.criteria for node in _walk(root)
        ):
            names.append("criteria")
        return names

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "layout": self.layout,
            "fields": {
                name: [item.as_json() for item in found] if isinstance(found, list) else found.as_json()
                for name, found in self.fields.items()
            },
            "criteria": [root.as_json() for root in self.criteria],
            "needs_review": self.needs_review(),
            "errors": list(self.errors),
        }


def _walk(node: Criterion) -> list[Criterion]:
    return [node, *(n for child in node.children for n in _walk(child))]


def plain(value: Any) -> Any:
    """A value as JSON holds it: dates as ISO text, tuples as lists."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
