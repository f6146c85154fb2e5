"""Negated mentions of policy terms in request notes (issue 17, section 6): no spaCy model, no network."""

from __future__ import annotations

import socket
from datetime import date
from typing import Any

import pytest

from policies_app import negation
from policies_app.engine import FlagData, LineRequest, PolicyIndex, RequestData, VersionData, evaluate_request
from policies_app.engine import normalize_words as words

DOS = date(2026, 3, 2)


def dynesys_policy(*terms: str, codes: tuple[tuple[str, str, str], ...] = ()) -> VersionData:
    return VersionData(
        version_id=1,
        policy_id=1,
        payer="Test Plan",
        policy_number="07.01.89",
        policy_title="Dynamic stabilization",
        version_label="2023-07",
        effective_start=date(2023, 7, 1),
        effective_end=None,
        coverage_position="experimental_investigational",
        statement="Dynamic stabilization is investigational.",
        lines_of_business=frozenset({"commercial"}),
        codes=codes,
        terms=terms or ("Dynesys",),
    )


def flags(notes: str, *, version: VersionData | None = None, code: str = "22612") -> list[FlagData]:
    request = RequestData(
        line_of_business="commercial",
        lines=(LineRequest(1, "CPT", code, DOS),),
        notes=notes,
    )
    return evaluate_request(PolicyIndex([version or dynesys_policy()]), request)


def kinds(notes: str, **kwargs: Any) -> list[str]:
    return [f.kind for f in flags(notes, **kwargs)]


@pytest.mark.parametrize(
    "notes",
    [
        "no Dynesys will be used",
        "Dynesys was not considered",
        "denies use of Dynesys",
        "ruled out Dynesys",
        "Plan: L4-5 decompression. No DYNESYS® will be used.",
    ],
)
def test_a_term_named_only_in_a_negated_mention_raises_no_flag(notes: str) -> None:
    """Issue 17 section 6: "no Dynesys will be used" or "Dynesys was not considered" does not raise
    an investigational flag for Dynesys."""
    assert kinds(notes) == []


@pytest.mark.parametrize("notes", ["plan Dynesys stabilization", "Dynesys, not fusion"])
def test_a_term_named_as_wanted_still_raises_its_flags(notes: str) -> None:
    """Issue 17 section 6: only a negated mention is set aside; a wanted device is still flagged."""
    assert kinds(notes) == ["term_match", "investigational"]


def test_a_term_both_negated_and_wanted_keeps_its_flag_noting_the_negated_mention() -> None:
    """Issue 17 section 6: the flag stays when any mention is affirmed, and notes "mentioned, negated"."""
    found = flags("Dynesys was not considered at L3-4. Plan Dynesys stabilization at L4-5.")
    assert [f.kind for f in found] == ["term_match", "investigational"]
    assert found[0].details["terms"] == ["dynesys"]
    assert found[0].details["mentioned_negated"] == ["dynesys"]


def test_a_negated_term_is_left_out_of_the_flag_another_term_of_the_policy_raises() -> None:
    """Issue 17 section 6: a negated term is noted as mentioned, negated, not listed as named."""
    version = dynesys_policy("Dynesys", "Isobar")
    found = flags("No Dynesys will be used. Plan Isobar rod.", version=version)
    assert found[0].kind == "term_match"
    assert found[0].details["terms"] == ["isobar"]
    assert found[0].details["mentioned_negated"] == ["dynesys"]
    assert "dynesys" not in found[0].message.lower()


def test_a_negated_term_does_not_clear_a_flag_the_code_raises() -> None:
    """Issue 17 section 6 sets aside term matches only: a code the policy lists is flagged regardless."""
    version = dynesys_policy("Dynesys", codes=(("CPT", "22867", "22867"),))
    assert kinds("no Dynesys will be used", version=version, code="22867") == ["investigational"]


def test_a_multi_word_term_named_only_negated_raises_no_flag() -> None:
    """Issue 17 section 6: terms are found as the engine finds them (case, punctuation), then negated."""
    version = dynesys_policy("CD-Horizon Agile")
    assert kinds("Patient denies any prior cd horizon   AGILE rod.", version=version) == []


def test_a_negation_in_another_sentence_does_not_reach_the_term() -> None:
    """Issue 17 section 6: a negation applies within its own sentence (NegEx scope)."""
    assert kinds("No bowel or bladder symptoms. Plan Dynesys stabilization.") == ["term_match", "investigational"]


def test_a_comma_ends_the_scope_of_a_negation() -> None:
    """Issue 17 section 6, leaning towards the flag: a negated finding before a comma does not
    negate the device named after it."""
    assert kinds("No prior fusion, plan Dynesys stabilization at L4-5") == ["term_match", "investigational"]


def test_a_negation_farther_than_the_scope_does_not_reach_the_term() -> None:
    """Issue 17 section 6, leaning towards the flag: NegEx judges a few words either side of a term."""
    notes = "No improvement after twelve weeks of physical therapy and anti-inflammatory drugs so plan Dynesys"
    assert kinds(notes) == ["term_match", "investigational"]


def test_a_mention_written_with_accents_is_judged_too() -> None:
    """Issue 17 section 6: a mention found by the engine's own normalization is judged like any other."""
    version = dynesys_policy("Zodiak Dynamo")
    assert kinds("Patient declined the ZODIÁK® dynamo rod.", version=version) == []


def test_an_alternative_under_consideration_is_not_negated() -> None:
    """Issue 17 section 6: "versus" weighs options, it does not say a device will not be used."""
    assert kinds("Fusion versus Dynesys discussed with the patient") == ["term_match", "investigational"]


def test_a_note_that_names_no_policy_term_never_runs_the_detector(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 section 6 without slowing intake: negation is judged only for notes that name a term."""

    def refuse() -> None:
        raise AssertionError("the negation detector was used")

    monkeypatch.setattr(negation, "detector", refuse)
    assert kinds("No bowel or bladder symptoms; physical therapy failed.") == []


def test_the_detector_is_built_once_per_process() -> None:
    """Issue 17 section 6: the detector is loaded once and reused, not per request."""
    assert negation.detector() is negation.detector()


def test_the_detector_is_built_without_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17 section 6: a detector from PyPI that needs no model download at run time."""

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.setattr(socket, "create_connection", offline)
    monkeypatch.setattr(negation, "_detector", None)
    mentions = negation.term_mentions("Dynesys was not considered.", {"dynesys"}, words)
    assert mentions.negated_only == {"dynesys"}


def test_mentions_sort_each_term_into_affirmed_and_negated() -> None:
    """Issue 17 section 6: the detector reports each term's mentions, negated or not."""
    mentions = negation.term_mentions(
        "Denies use of Dynesys. Plan Isobar rod; Isobar was not considered at L3.",
        {"dynesys", "isobar"},
        words,
    )
    assert mentions.negated == {"dynesys", "isobar"}
    assert mentions.affirmed == {"isobar"}
    assert mentions.negated_only == {"dynesys"}
