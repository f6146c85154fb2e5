"""A documented-review criterion: text a reviewer checks in the documentation, evaluated as yes/no
on the case's clinical fact that `documented_fact_key` names."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from policies_app import selectors
from policies_app.engine import CriterionNode, Tri, documented_fact_key, explain_criteria
from policies_app.models import Criterion, FactDefinition, PolicyVersion
from tests import factories

TEXT = "Imaging shows no instability at the treated level"


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    version = factories.draft_version(
        factories.policy(number="TP.07", title="Documented review"),
        codes=[("CPT", "62331", "")],
        coverage_position="medically_necessary_with_criteria",
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of")
    Criterion.objects.create(version=version, parent=root, position=1, node_type="documented", label=TEXT)
    return factories.publish(version, editor)


def _tree(version: PolicyVersion) -> CriterionNode:
    data = selectors.version_data(
        PolicyVersion.objects.prefetch_related("codes", "terms", "criteria__fact").get(pk=version.pk)
    )
    assert data.criteria is not None
    return data.criteria


def test_a_documented_criterion_reads_unknown_until_a_reviewer_records_it(version: PolicyVersion) -> None:
    assert explain_criteria(_tree(version), {}).result is Tri.UNKNOWN


def test_a_documented_criterion_recorded_as_found_is_met(version: PolicyVersion) -> None:
    outcome = explain_criteria(_tree(version), {documented_fact_key(TEXT): True})
    assert outcome.result is Tri.MET


def test_a_documented_criterion_recorded_as_not_found_is_not_met(version: PolicyVersion) -> None:
    outcome = explain_criteria(_tree(version), {documented_fact_key(TEXT): False})
    assert outcome.result is Tri.NOT_MET


def test_the_documented_key_survives_a_change_of_case_or_spacing_only() -> None:
    assert documented_fact_key(TEXT) == documented_fact_key("  imaging shows NO instability at the treated level ")
    assert documented_fact_key(TEXT) != documented_fact_key(TEXT + " on flexion views")


def test_the_database_refuses_a_documented_criterion_with_a_fact(version: PolicyVersion) -> None:
    fact = FactDefinition.objects.get(key="conservative_therapy_weeks")
    draft = factories.draft_version(factories.policy(number="TP.08", title="Other"), codes=[("CPT", "62332", "")])
    with pytest.raises(IntegrityError), transaction.atomic():
        Criterion.objects.create(version=draft, node_type="documented", label=TEXT, fact=fact)
