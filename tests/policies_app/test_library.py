"""The policy library in the database: seed policies, immutability, overlaps and the engine index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction

from casemgmt.cases.models import Case, Flag
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.errors import ConflictError, InvalidTransition, ValidationFailed
from policies_app import selectors
from policies_app.demo.seed_policies import BCBSMN_DYNAMIC_SPINE_STABILIZATION, WELLMARK_07_01_89
from policies_app.models import PolicyCode, PolicyVersion, PolicyVersionStatus
from policies_app.selectors import engine_index
from policies_app.services import (
    library_stamp_bump,
    policy_code_add,
    policy_seed,
    policy_version_publish,
    policy_version_retire,
    policy_version_submit_for_review,
)
from tests import factories

pytestmark = pytest.mark.django_db

BEFORE_REPLACEMENT = date(2025, 1, 20)
AFTER_REPLACEMENT = date(2025, 3, 3)
IN_2026 = date(2026, 6, 1)


@pytest.fixture(autouse=True)
def fresh_engine_index() -> Iterator[None]:
    # The stamp row rolls back with each test, so an index cached by an earlier test could carry
    # the same stamp as this test's library; start every test without one.
    selectors._index = None
    yield
    selectors._index = None


@pytest.fixture
def seeded(editor: User) -> dict[str, PolicyVersion]:
    return {
        "wellmark": policy_seed(data=WELLMARK_07_01_89, user=editor, publisher=factories.second_editor()),
        "bcbsmn": policy_seed(
            data=BCBSMN_DYNAMIC_SPINE_STABILIZATION, user=editor, publisher=factories.second_editor()
        ),
    }


def retrospective_case(client: User, *, day: date, code: str = "62330", **overrides: Any) -> Case:
    # Past dates of service come in as retrospective (post-service) reviews.
    return factories.case(
        client,
        review_type="retrospective",
        service_lines=(LineInput(code_system="CPT", code=code, units=1, date_of_service=day),),
        **overrides,
    )


def current_flags(case: Case) -> list[Flag]:
    return list(Flag.objects.filter(case=case, superseded_at__isnull=True).order_by("id"))


# --- the seed policies flag requests as the policies say ------------------------------------


def test_seed_policies_are_published(seeded: dict[str, PolicyVersion]) -> None:
    assert {v.status for v in seeded.values()} == {PolicyVersionStatus.PUBLISHED}
    assert seeded["bcbsmn"].effective_end == date(2025, 1, 26)


def test_62330_for_a_commercial_member_in_2026_is_investigational_per_07_01_89(
    seeded: dict[str, PolicyVersion], integration_client: User
) -> None:
    case = retrospective_case(integration_client, day=IN_2026)
    [flag] = current_flags(case)
    assert flag.kind == "investigational"
    assert flag.policy_version_id == seeded["wellmark"].pk
    assert flag.citation is not None
    assert flag.citation["policy_number"] == "07.01.89"
    assert flag.citation["version"] == "2023-07"
    assert flag.citation["effective_start"] == "2023-07-01"
    assert "07.01.89" in flag.message


def test_62330_for_a_medicare_advantage_member_is_line_of_business_excluded(
    seeded: dict[str, PolicyVersion], integration_client: User
) -> None:
    case = retrospective_case(integration_client, day=IN_2026, line_of_business="medicare_advantage")
    [flag] = current_flags(case)
    assert flag.kind == "line_of_business_excluded"
    assert flag.citation is not None
    assert flag.citation["policy_number"] == "07.01.89"


def test_notes_naming_dynesys_before_replacement_are_investigational_per_bcbs_mn(
    seeded: dict[str, PolicyVersion], integration_client: User
) -> None:
    case = retrospective_case(
        integration_client, day=BEFORE_REPLACEMENT, code="22612", clinical_notes="L4-5 fusion with DYNESYS® rods."
    )
    flags = current_flags(case)
    assert sorted(f.kind for f in flags) == ["investigational", "term_match"]
    investigational = next(f for f in flags if f.kind == "investigational")
    assert investigational.policy_version_id == seeded["bcbsmn"].pk
    assert investigational.citation is not None
    assert investigational.citation["payer"] == "Blue Cross and Blue Shield of Minnesota"
    assert investigational.citation["coverage_position"] == "experimental_investigational"


def test_notes_naming_dynesys_after_replacement_have_no_version_in_effect(
    seeded: dict[str, PolicyVersion], integration_client: User
) -> None:
    case = retrospective_case(
        integration_client, day=AFTER_REPLACEMENT, code="22612", clinical_notes="L4-5 fusion with Dynesys rods."
    )
    [flag] = current_flags(case)
    assert flag.kind == "no_version_in_effect"
    assert flag.policy_version_id is None
    assert flag.details["matched_by"] == "term"
    assert flag.details["terms"] == ["dynesys"]


def test_notes_naming_a_longer_word_do_not_flag(seeded: dict[str, PolicyVersion], integration_client: User) -> None:
    case = retrospective_case(
        integration_client, day=BEFORE_REPLACEMENT, code="22612", clinical_notes="Dynesystem is not a device."
    )
    assert current_flags(case) == []


def test_seeding_twice_changes_nothing(seeded: dict[str, PolicyVersion], editor: User) -> None:
    again = policy_seed(data=WELLMARK_07_01_89, user=editor, publisher=factories.second_editor())
    assert again.pk == seeded["wellmark"].pk
    assert PolicyVersion.objects.count() == 2


# --- immutability ---------------------------------------------------------------------------


@pytest.fixture
def published(editor: User) -> PolicyVersion:
    return factories.publish(factories.draft_version(), editor)


def test_database_refuses_update_of_a_published_version(published: PolicyVersion) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=published.pk).update(statement="Now covered.")
    published.refresh_from_db()
    assert published.statement == "The test procedure is investigational."


def test_database_refuses_save_of_a_published_version(published: PolicyVersion) -> None:
    published.coverage_position = "medically_necessary"
    with pytest.raises(DatabaseError), transaction.atomic():
        published.save()


def test_database_refuses_moving_a_published_start_date(published: PolicyVersion) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=published.pk).update(effective_start=date(2020, 1, 1))


def test_database_refuses_reopening_a_closed_end_date(editor: User) -> None:
    closed = factories.publish(factories.draft_version(effective_end=date(2024, 12, 31)), editor)
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=closed.pk).update(effective_end=date(2025, 6, 30))


def test_database_refuses_a_code_added_to_a_published_version(published: PolicyVersion) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyCode.objects.create(version=published, system="CPT", code="62331")
    assert list(published.codes.values_list("code", flat=True)) == ["62330"]


def test_service_refuses_a_code_added_to_a_published_version(published: PolicyVersion) -> None:
    with pytest.raises(InvalidTransition):
        policy_code_add(version=published, system="CPT", code="62331")


def test_retiring_a_published_version_is_allowed(published: PolicyVersion, editor: User) -> None:
    retired = policy_version_retire(version_id=published.pk, user=editor)
    assert retired.status == PolicyVersionStatus.RETIRED


# --- overlaps -------------------------------------------------------------------------------


def test_publishing_an_overlapping_version_is_refused_with_a_clear_message(editor: User) -> None:
    first = factories.publish(factories.draft_version(effective_end=date(2024, 12, 31)), editor)
    overlapping = factories.draft_version(first.policy, version_label="2024-06", effective_start=date(2024, 6, 1))
    with pytest.raises(ConflictError) as refused:
        factories.publish(overlapping, editor)
    message = refused.value.message
    assert "overlaps published version 2024-01 (2024-01-01 to 2024-12-31)" in message
    assert refused.value.field == "effective_start"
    overlapping.refresh_from_db()
    assert overlapping.status == PolicyVersionStatus.IN_REVIEW


def test_publishing_a_version_starting_before_an_open_one_is_refused(editor: User) -> None:
    first = factories.publish(factories.draft_version(), editor)
    earlier = factories.draft_version(first.policy, version_label="2023-06", effective_start=date(2023, 6, 1))
    with pytest.raises(ConflictError):
        factories.publish(earlier, editor)
    first.refresh_from_db()
    assert first.effective_end is None


def test_publishing_a_successor_closes_the_open_ended_predecessor(editor: User) -> None:
    first = factories.publish(factories.draft_version(), editor)
    successor = factories.draft_version(first.policy, version_label="2025-01", effective_start=date(2025, 1, 1))
    factories.publish(successor, editor)
    first.refresh_from_db()
    assert first.effective_end == date(2024, 12, 31)
    assert first.status == PolicyVersionStatus.PUBLISHED


def test_versions_of_different_policies_may_overlap(editor: User) -> None:
    factories.publish(factories.draft_version(), editor)
    other = factories.draft_version(factories.policy(number="TP.02"))
    assert factories.publish(other, editor).status == PolicyVersionStatus.PUBLISHED


# --- publish checks -------------------------------------------------------------------------


def incomplete_draft() -> PolicyVersion:
    policy = factories.policy(number="", title="")
    return factories.draft_version(policy, coverage_position="undetermined")


def test_submit_refuses_a_draft_missing_number_title_and_position(editor: User) -> None:
    draft = incomplete_draft()
    with pytest.raises(ValidationFailed) as refused:
        policy_version_submit_for_review(version_id=draft.pk, user=editor)
    assert {"policy.number", "policy.title", "coverage_position"} <= set(refused.value.errors)


def test_publish_refuses_a_version_in_review_missing_number_title_and_position(editor: User) -> None:
    draft = incomplete_draft()
    # Put it in review directly, as if the fields had been cleared after it was submitted.
    PolicyVersion.objects.filter(pk=draft.pk).update(status=PolicyVersionStatus.IN_REVIEW)
    with pytest.raises(ValidationFailed) as refused:
        policy_version_publish(version_id=draft.pk, user=editor)
    errors = refused.value.errors
    assert {"policy.number", "policy.title", "coverage_position"} <= set(errors)
    assert "policy number is missing" in " ".join(errors["policy.number"])
    draft.refresh_from_db()
    assert draft.status == PolicyVersionStatus.IN_REVIEW


# --- the engine index -----------------------------------------------------------------------


def test_engine_index_is_reused_while_the_stamp_is_unchanged(
    published: PolicyVersion, django_assert_num_queries: Any
) -> None:
    first = engine_index()
    with django_assert_num_queries(1):
        again = engine_index()
    assert again is first
    assert published.pk in again.versions


def test_engine_index_rebuilds_when_another_process_bumps_the_stamp(
    published: PolicyVersion, django_assert_num_queries: Any
) -> None:
    first = engine_index()
    library_stamp_bump()
    # One stamp read, then the versions, their codes, terms and criteria (no facts to fetch: no leaves).
    with django_assert_num_queries(5):
        rebuilt = engine_index()
    assert rebuilt is not first
    assert rebuilt.stamp == first.stamp + 1
    assert published.pk in rebuilt.versions


def test_engine_index_sees_a_version_published_after_it_was_built(published: PolicyVersion, editor: User) -> None:
    before = engine_index()
    successor = factories.draft_version(published.policy, version_label="2025-01", effective_start=date(2025, 1, 1))
    factories.publish(successor, editor)
    after = engine_index()
    assert successor.pk not in before.versions
    assert successor.pk in after.versions
    assert after.versions[published.pk].effective_end == date(2024, 12, 31)


def test_engine_index_leaves_out_drafts(published: PolicyVersion) -> None:
    draft = factories.draft_version(factories.policy(number="TP.03"))
    index = engine_index()
    assert published.pk in index.versions
    assert draft.pk not in index.versions


# --- ICD-10-CM ranges -----------------------------------------------------------------------


def test_an_icd10cm_range_with_ends_of_differing_length_is_kept_as_given() -> None:
    draft = factories.draft_version(codes=[])
    code = policy_code_add(version=draft, system="ICD10CM", code="E10.10", code_end="E10.9")
    assert (code.code, code.code_end) == ("E10.10", "E10.9")


def test_an_icd10cm_range_in_tabular_order_is_kept_though_its_text_order_is_reversed() -> None:
    """The tabular list puts C7A (malignant neuroendocrine tumors) before C76; so must the database."""
    draft = factories.draft_version(codes=[])
    code = policy_code_add(version=draft, system="ICD10CM", code="C7A", code_end="C76")
    assert (code.code, code.code_end) == ("C7A", "C76")


def test_the_service_refuses_a_reversed_icd10cm_range_naming_it() -> None:
    draft = factories.draft_version(codes=[])
    with pytest.raises(ValidationFailed) as refused:
        policy_code_add(version=draft, system="ICD10CM", code="S32.2", code_end="S32.0")
    assert "range S32.2-S32.0" in str(refused.value.errors)


def test_a_request_coded_inside_a_published_icd10cm_range_is_flagged(editor: User, integration_client: User) -> None:
    ranged = factories.publish(factories.draft_version(codes=[("ICD10CM", "S32.0", "S32.2")]), editor)
    case = factories.case(
        integration_client,
        review_type="retrospective",
        service_lines=(LineInput(code_system="ICD10CM", code="S32.2XXA", units=1, date_of_service=IN_2026),),
    )
    [flag] = current_flags(case)
    assert (flag.kind, flag.policy_version_id) == ("investigational", ranged.pk)
