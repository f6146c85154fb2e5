"""An extracted document becomes a draft version through the library's services."""

from __future__ import annotations

from datetime import date

import pytest

from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.importer import ImportRefused, parse_policy
from policies_app.importing.result import REVIEW_THRESHOLD
from policies_app.importing.services import import_field_review_confirm, policy_document_import
from policies_app.models import Criterion, FactDefinition, Policy, PolicyVersion, RequirementRule
from policies_app.services import policy_import, policy_version_publish, policy_version_submit_for_review
from tests import factories
from tests.policies_app.importing.conftest import CORPUS, SAMPLES, SHARED_POLICIES

needs_shared = pytest.mark.skipif(not SHARED_POLICIES.is_dir(), reason="../shared/policies is absent")


def import_corpus(name: str, user, payer: str = ""):
    return policy_document_import(data=(CORPUS / name).read_bytes(), filename=name, user=user, payer=payer)


def test_import_creates_a_draft_with_identity_dates_and_position(editor):
    outcome = import_corpus("nat-02-bariatric-surgery.txt", editor)
    version = outcome.version
    assert outcome.created and version.status == "draft"
    assert (version.policy.payer, version.policy.number, version.policy.title) == (
        "Meridian National Health Insurance Company",
        "0157",
        "Bariatric Surgery for Severe Obesity",
    )
    assert (version.effective_start, version.review_date) == (date(2024, 7, 1), date(2024, 6, 4))
    assert version.policy.original_effective_date == date(2005, 1, 1)


def test_positions_that_differ_by_indication_are_left_for_the_editor(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    assert version.coverage_position == "undetermined"
    assert any(
        note.startswith("coverage position: the policy states a position per indication")
        for note in version.missing_fields
    )


def test_codes_keep_their_ranges(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    assert ("CPT", "43290", "43291") in set(version.codes.values_list("system", "code", "code_end"))
    assert ("ICD10CM", "Z68.41", "Z68.45") in set(version.codes.values_list("system", "code", "code_end"))


def test_excluded_lines_of_business_are_left_out_of_the_policy(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    assert version.policy.lines_of_business == ["commercial", "medicare_advantage", "exchange", "fep"]


def test_devices_are_stored_by_the_brand_notes_use(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    assert {"LAP-BAND", "Orbera Intragastric Balloon", "Obalon Balloon"} <= set(
        version.terms.values_list("term", flat=True)
    )


def test_criteria_are_stored_as_fact_tests_and_documented_criteria(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    age = Criterion.objects.get(version=version, label="Age 18 years or older")
    assert (age.node_type, age.fact.key, age.operator, age.value) == ("leaf", "member_age", "gte", 18)
    documented = Criterion.objects.get(
        version=version, label="A psychological evaluation found no contraindication to surgery"
    )
    assert (documented.node_type, documented.fact_id) == ("documented", None)
    assert Criterion.objects.get(version=version, parent__isnull=True).node_type == "all_of"


def test_a_leaf_whose_fact_is_not_in_the_database_catalogue_is_documented(editor):
    # The database catalogue has no HbA1c fact, so that criterion is for a reviewer to read.
    assert not FactDefinition.objects.filter(key="hba1c_percent").exists()
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    assert Criterion.objects.get(version=version, label__startswith="HbA1c").node_type == "documented"


def test_the_prior_authorization_statement_suggests_draft_rules(editor):
    version = import_corpus("nat-02-bariatric-surgery.txt", editor).version
    rules = RequirementRule.objects.filter(suggested_from=version)
    assert rules.exists() and set(rules.values_list("requirement", "status")) == {("required", "draft")}


def test_fields_below_the_confidence_threshold_are_recorded_for_confirmation(editor):
    version = import_corpus("reg-02-knee-arthroscopy.txt", editor).version
    title = version.field_reviews.get(field="title")
    assert (title.confirmed_at, title.label) == (None, "Title")
    assert title.shown and title.source_text and title.confidence < REVIEW_THRESHOLD
    assert not any("confirm" in note and "title" in note for note in version.missing_fields)


def test_a_layout_without_the_seed_payer_name_is_imported(editor):
    version = import_corpus("blue-01-interspinous-spacers.txt", editor).version
    assert (version.policy.payer, version.policy.number, version.version_label) == (
        "Prairie Blue Cross and Blue Shield",
        "04.01.12",
        "2024-10",
    )


def test_a_saved_web_page_is_imported(editor):
    version = import_corpus("mcd-01-hypoglossal-nerve-stimulation.html", editor).version
    assert version.policy.lines_of_business == ["medicaid", "chip"]
    assert version.criteria.filter(node_type="leaf").count() == 2  # age and BMI; AHI is not in the catalogue


def test_the_payer_given_by_the_editor_is_used_when_the_document_names_none(editor):
    text = (CORPUS / "banner-01-spinal-tethering.txt").read_text().replace("Northstar Blue Cross ", "")
    outcome = policy_document_import(data=text.encode(), filename="x.txt", user=editor, payer="Given Plan")
    assert outcome.version.policy.payer == "Given Plan"


def test_a_document_naming_no_payer_without_one_given_is_refused(editor):
    text = (CORPUS / "banner-01-spinal-tethering.txt").read_text().replace("Northstar Blue Cross ", "")
    with pytest.raises(ImportRefused, match="does not name its payer"):
        policy_document_import(data=text.encode(), filename="x.txt", user=editor)
    assert Policy.objects.count() == 0


def test_importing_the_same_bytes_again_changes_nothing(editor):
    first = import_corpus("uni-01-spinal-cord-stimulation.html", editor)
    again = import_corpus("uni-01-spinal-cord-stimulation.html", editor)
    assert (again.created, again.version.pk) == (False, first.version.pk)
    assert PolicyVersion.objects.count() == 1


@pytest.mark.parametrize("data", [b"", b"\x00\x01binary", b"%PDF-1.7 broken"], ids=["empty", "binary", "damaged-pdf"])
def test_a_refused_document_writes_nothing(editor, media, data):
    with pytest.raises(ImportRefused):
        policy_document_import(data=data, filename="bad.pdf" if data.startswith(b"%PDF") else "bad.txt", user=editor)
    assert (Policy.objects.count(), PolicyVersion.objects.count()) == (0, 0)
    assert not media.exists() or not any(p.is_file() for p in media.rglob("*"))


def test_import_requires_the_policy_editor_role(nurse):
    with pytest.raises(PermissionDeniedError):
        import_corpus("uni-01-spinal-cord-stimulation.html", nurse)


def test_seed_layout_sample_imports_as_the_legacy_importer_does(editor):
    data = (SAMPLES / "wellmark-cryoablation.txt").read_bytes()
    version = policy_document_import(data=data, filename="w.txt", user=editor).version
    parsed = parse_policy(data)
    assert (version.policy.payer, version.policy.number, version.version_label) == (
        parsed.payer,
        parsed.number,
        parsed.version_label,
    )
    assert set(version.terms.values_list("term", flat=True)) == {term for term, _ in parsed.terms}


@needs_shared
@pytest.mark.parametrize(
    "name",
    ["wellmark-07.01.89-image-guided-minimally-invasive-decompression.txt", "bcbsmn-dynamic-spine-stabilization.txt"],
)
def test_shared_seed_policies_import_as_before(editor, name):
    data = (SHARED_POLICIES / name).read_bytes()
    version = policy_document_import(data=data, filename=name, user=editor).version
    legacy_version, _ = policy_import(path_or_bytes=data, filename=name, user=editor)
    assert version.pk == legacy_version.pk
    parsed = parse_policy(data)
    assert (version.coverage_position, version.effective_start, version.effective_end) == (
        parsed.coverage_position,
        parsed.effective_start,
        parsed.effective_end,
    )
    assert sorted(version.codes.values_list("system", "code")) == sorted((s, c) for s, c, _ in parsed.codes)


def test_a_newer_revision_is_the_next_draft_of_the_published_policy(editor):
    first = import_corpus("blue-01-interspinous-spacers.txt", editor).version
    first.missing_fields = []
    first.save(update_fields=["missing_fields"])
    for review in first.field_reviews.all():
        import_field_review_confirm(review_id=review.pk, user=editor)
    policy_version_submit_for_review(version_id=first.pk, user=editor)
    policy_version_publish(version_id=first.pk, user=factories.user("second.editor", Role.POLICY_EDITOR))
    revised = (
        (CORPUS / "blue-01-interspinous-spacers.txt")
        .read_text()
        .replace("Revised: October 2024", "Revised: April 2026")
    )
    draft = policy_document_import(data=revised.encode(), filename="r.txt", user=editor).version
    assert (draft.policy_id, draft.based_on_id, draft.status) == (first.policy_id, first.pk, "draft")
    note = next(n for n in draft.missing_fields if n.startswith("revision:"))
    assert f"revises published version {first.version_label}" in note and "ends it on 2026-03-31" in note
