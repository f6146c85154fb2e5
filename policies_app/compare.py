"""Two versions' content side by side, section by section: what the version comparison and the import page show."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from policies_app.models import CoveragePosition, CriterionNodeType, LineOfBusiness


@dataclass(frozen=True)
class DiffRow:
    section: str
    left: str
    right: str
    changed: bool
    first: bool


DIFF_SECTIONS = [
    ("payer", "Payer"),
    ("policy_number", "Policy number"),
    ("policy_title", "Policy title"),
    ("lines_of_business", "Lines of business"),
    ("version", "Version"),
    ("coverage_position", "Coverage position"),
    ("auto_approve_when_met", "Approval when criteria are met"),
    ("effective_start", "Effective start"),
    ("effective_end", "Effective end"),
    ("statement", "Policy statement"),
    ("codes", "Codes"),
    ("terms", "Terms"),
    ("criteria", "Criteria"),
    ("source_sha256", "Source document SHA-256"),
]


def _criteria_lines(nodes: list[dict[str, Any]]) -> list[str]:
    """The criteria tree as indented lines, without ids, so copies of a tree compare equal."""
    children: dict[int | None, list[dict[str, Any]]] = defaultdict(list)
    for node in nodes:
        children[node["parent"]].append(node)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for node in sorted(children.get(parent, []), key=lambda n: (n["position"], n["id"])):
            if node["node_type"] == CriterionNodeType.LEAF:
                text = f"{node['label']} [{node['fact']} {node['operator']} {json.dumps(node['value'])}]"
            elif node["node_type"] == CriterionNodeType.AT_LEAST:
                text = f"At least {node['min_met']} of: {node['label']}"
            else:
                text = f"{CriterionNodeType(node['node_type']).label}: {node['label']}"
            lines.append("    " * depth + text)
            walk(node["id"], depth + 1)

    walk(None, 0)
    return lines


def _content_lines(content: dict[str, Any]) -> dict[str, list[str]]:
    lines: dict[str, list[str]] = {}
    for key, _label in DIFF_SECTIONS:
        value = content.get(key)
        if key == "statement":
            lines[key] = [line for line in (value or "").splitlines() if line.strip()]
        elif key == "codes":
            lines[key] = [
                f"{system} {code}{'-' + end if end else ''}{' — ' + desc if desc else ''}"
                for system, code, end, desc in value or []
            ]
        elif key == "terms":
            lines[key] = list(value or [])
        elif key == "criteria":
            lines[key] = _criteria_lines(value or [])
        elif key == "coverage_position":
            lines[key] = [CoveragePosition(value).label if value in CoveragePosition.values else str(value)]
        elif key == "lines_of_business":
            lines[key] = [", ".join(LineOfBusiness(v).label if v in LineOfBusiness.values else v for v in value or [])]
        else:
            lines[key] = ["" if value is None else str(value)]
    return lines


def diff_rows(left: dict[str, Any], right: dict[str, Any]) -> list[DiffRow]:
    """Align two versions' content section by section; unchanged lines pair up, the rest are marked."""
    left_lines, right_lines = _content_lines(left), _content_lines(right)
    rows: list[DiffRow] = []
    for key, label in DIFF_SECTIONS:
        a, b = left_lines[key], right_lines[key]
        section_rows: list[tuple[str, str, bool]] = []
        for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
            if tag == "equal":
                section_rows.extend((x, y, False) for x, y in zip(a[i1:i2], b[j1:j2], strict=True))
                continue
            old, new = a[i1:i2], b[j1:j2]
            for k in range(max(len(old), len(new))):
                section_rows.append((old[k] if k < len(old) else "", new[k] if k < len(new) else "", True))
        if not section_rows:
            section_rows.append(("", "", False))
        rows.extend(DiffRow(label, x, y, changed, i == 0) for i, (x, y, changed) in enumerate(section_rows))
    return rows
