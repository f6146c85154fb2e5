"""Domain validation of a request, by field path. Shared by every intake path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from policies_app.codes import code_problem, diagnosis_problem, normalize_code
from policies_app.engine import DOCUMENTED_FACT_PREFIX

NPI_RE = re.compile(r"^[0-9]{10}$")
MODIFIER_RE = re.compile(r"^[A-Z0-9]{2}$")
# A date of service further out than this is almost certainly a typing error.
MAX_DAYS_AHEAD = 366 * 2
OLDEST_BIRTH_DATE = date(1890, 1, 1)


def npi_is_valid(npi: str) -> bool:
    """NPI check digit: Luhn over the number prefixed with 80840 (CMS NPI standard)."""
    if not NPI_RE.match(npi):
        return False
    digits = [int(d) for d in "80840" + npi[:9]]
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10 == int(npi[9])


class Problems:
    """Collects problems by field path, as the API reports them."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.errors)


def check_npi(problems: Problems, path: str, npi: str) -> None:
    if not npi_is_valid(npi):
        problems.add(path, f"{npi!r} is not a valid NPI: ten digits with a correct check digit")


def check_diagnoses(problems: Problems, path: str, codes: list[str]) -> list[str]:
    """The request's diagnoses, normalized; each must be a billable ICD-10-CM code."""
    normalized = []
    for i, code in enumerate(codes):
        problem = diagnosis_problem(code)
        if problem:
            problems.add(f"{path}[{i}]", problem)
        normalized.append(normalize_code("ICD10CM", code))
    if len(set(normalized)) != len(normalized):
        problems.add(path, "a diagnosis code is listed twice")
    return normalized


def check_line(problems: Problems, path: str, line: Any, today: date) -> None:
    problem = code_problem(line.code_system, line.code)
    if problem:
        problems.add(f"{path}.code", problem)
    for j, modifier in enumerate(line.modifiers):
        if not MODIFIER_RE.match(modifier):
            problems.add(f"{path}.modifiers[{j}]", f"{modifier!r} is not a modifier: two letters or digits")
    if line.units <= 0:
        problems.add(f"{path}.units", "units must be greater than 0")
    if line.date_of_service > today + timedelta(days=MAX_DAYS_AHEAD):
        problems.add(f"{path}.date_of_service", "is more than two years ahead")
    if line.date_of_service < today - timedelta(days=366 * 3):
        problems.add(f"{path}.date_of_service", "is more than three years ago")


def check_member(problems: Problems, birth_date: date | None, today: date) -> None:
    if birth_date is None:
        return
    if birth_date > today:
        problems.add("member.birth_date", "is in the future")
    elif birth_date < OLDEST_BIRTH_DATE:
        problems.add("member.birth_date", "is before 1890")


DOCUMENTED_FINDING = re.compile(rf"^{re.escape(DOCUMENTED_FACT_PREFIX)}[0-9a-f]{{16}}$")


def check_facts(problems: Problems, facts: Mapping[str, Any], known: Mapping[str, str]) -> None:
    """Clinical facts must be in the catalogue (typed), so criteria can read them."""
    for name, value in facts.items():
        value_type = known.get(name)
        if value_type is None and DOCUMENTED_FINDING.match(name):
            # A documented-review criterion's finding (policies_app.engine.documented_fact_key): yes or no.
            value_type = "boolean"
        path = f"clinical_facts.{name}"
        if value_type is None:
            problems.add(path, "is not a known clinical fact; see the fact catalogue in the API documentation")
            continue
        if value_type in ("number", "integer") and (isinstance(value, bool) or not isinstance(value, (int, float))):
            problems.add(path, "must be a number")
        elif value_type == "integer" and isinstance(value, float) and not value.is_integer():
            problems.add(path, "must be a whole number")
        elif value_type == "boolean" and not isinstance(value, bool):
            problems.add(path, "must be true or false")
        elif value_type == "text" and not isinstance(value, str):
            problems.add(path, "must be text")
        elif value_type == "date":
            try:
                date.fromisoformat(str(value))
            except ValueError:
                problems.add(path, "must be a date (YYYY-MM-DD)")
        elif value_type == "code_list" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.add(path, "must be a list of codes")
