"""Extracted values in the words an editor reads: labels, never the stored codes."""

from __future__ import annotations

from datetime import date
from typing import Any

from policies_app.models import CodeSystem, CoveragePosition, LineOfBusiness, Requirement

FIELD_LABELS = {
    "payer": "Payer",
    "number": "Policy number",
    "title": "Title",
    "version_label": "Version label",
    "effective_start": "Effective start",
    "effective_end": "Effective end",
    "replaced_on": "Replaced on",
    "original_effective": "Original effective date",
    "last_review": "Last reviewed",
    "next_review": "Next review",
    "revised": "Revised",
    "history": "History",
    "positions": "Coverage position",
    "lines_of_business_excluded": "Does not apply to",
    "lines_of_business_only": "Applies only to",
    "codes": "Codes",
    "terms": "Devices and procedure terms",
    "prior_authorization": "Prior authorization",
}


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name, name.replace("_", " ").capitalize())


def choice_label(choices: Any, value: Any) -> str:
    return str(choices(value).label) if value in choices.values else str(value)


def code_text(value: dict[str, Any]) -> str:
    code = f"{choice_label(CodeSystem, value['system'])} {value['code']}"
    if value.get("code_end"):
        code += f"–{value['code_end']}"
    return f"{code} — {value['description']}" if value.get("description") else code


def shown_value(name: str, value: Any) -> str:
    """A field's value in words an editor reads, never the stored code."""
    if isinstance(value, date):
        return value.isoformat()
    if name == "codes":
        return code_text(value)
    if name == "positions":
        position = choice_label(CoveragePosition, value["position"])
        return f"{position}: {value['indication']}" if value.get("indication") else position
    if name in ("lines_of_business_excluded", "lines_of_business_only"):
        return "FEP (Federal Employee Program)" if value == "fep" else choice_label(LineOfBusiness, value)
    if name == "terms":
        kind = "device" if value["kind"] == "device" else "procedure"
        short = f" (in notes: {value['short']})" if value.get("short") and value["short"] != value["name"] else ""
        return f"{value['name']}{short}, {kind}"
    if name == "history":
        return " ".join(
            str(part) for part in (shown_value("", value["date"]), value["action"], value["detail"]) if part
        )
    if name == "prior_authorization":
        return f"{choice_label(Requirement, value['requirement'])}: {value['statement']}"
    return str(value)
