"""A request may answer a documented-review criterion (DTR's yes/no question on it): its finding is
a clinical fact under the key the engine derives from the criterion's words, yes or no only."""

from __future__ import annotations

from casemgmt.cases.validation import Problems, check_facts
from policies_app.engine import documented_fact_key

FINDING = documented_fact_key("Physical examination documents a radiculopathy")


def problems_of(facts: dict[str, object]) -> dict[str, list[str]]:
    problems = Problems()
    check_facts(problems, facts, {})
    return problems.errors


def test_a_documented_finding_is_a_yes_no_fact() -> None:
    assert problems_of({FINDING: True}) == {}


def test_a_documented_finding_that_is_not_yes_or_no_is_refused() -> None:
    assert problems_of({FINDING: "yes"}) == {f"clinical_facts.{FINDING}": ["must be true or false"]}


def test_a_key_that_only_looks_like_a_finding_is_not_a_fact() -> None:
    assert list(problems_of({"documented-anything": True})) == ["clinical_facts.documented-anything"]
