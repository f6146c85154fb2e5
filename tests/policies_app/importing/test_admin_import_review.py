"""Right after the import: the fields read below the threshold are confirmed one by one before publishing,
and documented-review criteria are mapped to catalogue facts, all through the services."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from casemgmt.audit.models import AuditEvent
from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from casemgmt.kernel.roles import Role
from casemgmt.security.services import roles_sync_permissions
from policies_app.importing.services import (
    fact_definition_create,
    import_field_review_confirm,
    policy_document_import,
)
from policies_app.models import (
    CoveragePosition,
    Criterion,
    FactDefinition,
    ImportFieldReview,
    PolicyTerm,
    PolicyVersion,
    TermKind,
)
from policies_app.services import policy_code_add, policy_version_publish, policy_version_submit_for_review
from tests import factories
from tests.policies_app.importing.conftest import CORPUS

URL = "/admin/policies_app/policy/import/"
UNSURE_TITLE = "ho-02-tricuspid-teer.txt"


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


@pytest.fixture
def editor_client(editor) -> Client:
    client = Client()
    client.force_login(editor)
    return client


def imported(name: str, editor) -> PolicyVersion:
    data = (CORPUS / name).read_bytes()
    version = policy_document_import(data=data, filename=name, user=editor, payer="Harbor Health Plan").version
    # What the editor settles on the draft's page, so only the imported fields stand in the way.
    version.missing_fields = []
    version.coverage_position = CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA
    version.save(update_fields=["missing_fields", "coverage_position"])
    return version


def confirm(
    client: Client, version: PolicyVersion, review: ImportFieldReview, corrected: str = "", remove: bool = False
) -> str:
    data = {"step": "confirm", "draft": version.pk, "review": review.pk, "corrected": corrected}
    if remove:
        data["remove"] = "1"
    return client.post(URL, data, follow=True).content.decode()


def test_the_draft_review_lists_each_field_read_below_the_threshold_with_its_source(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    title = version.field_reviews.get(field="title")
    html = editor_client.get(f"{URL}?draft={version.pk}").content.decode()
    assert f'id="review-{title.pk}" class="unconfirmed"' in html
    assert title.shown in html and title.source_text[:40] in html
    assert 'value="Confirm title"' in html


def test_submitting_is_refused_naming_each_unconfirmed_field(editor):
    version = imported(UNSURE_TITLE, editor)
    with pytest.raises(ValidationFailed) as refused:
        policy_version_submit_for_review(version_id=version.pk, user=editor)
    assert list(refused.value.errors) == ["imported_fields"]
    assert "confirm the imported title" in refused.value.errors["imported_fields"][0]


def test_publishing_is_allowed_once_every_field_is_confirmed_on_the_page(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    for review in version.field_reviews.all():
        assert "confirmed." in confirm(editor_client, version, review)
    policy_version_submit_for_review(version_id=version.pk, user=editor)
    published = policy_version_publish(version_id=version.pk, user=factories.user("second.editor", Role.POLICY_EDITOR))
    assert published.status == "published"


def test_confirming_a_field_records_who_and_is_audited(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    title = version.field_reviews.get(field="title")
    confirm(editor_client, version, title)
    title.refresh_from_db()
    assert title.confirmed_by == editor and title.confirmed_at is not None
    event = AuditEvent.objects.filter(object_type="policy_version", object_id=str(version.pk)).latest("pk")
    assert "confirmed.title.0" in event.changes


def test_a_date_is_corrected_on_the_draft_then_confirmed(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    review = ImportFieldReview.objects.create(
        version=version,
        field="effective_start",
        label="Effective start",
        shown="2025-01-01",
        source_text="Effective 01/01/2025",
        confidence=0.5,
    )
    html = confirm(editor_client, version, review, corrected="2025-02-01")
    version.refresh_from_db()
    review.refresh_from_db()
    assert version.effective_start == date(2025, 2, 1)
    assert (review.corrected_from, review.shown, review.confirmed_by) == ("2025-01-01", "2025-02-01", editor)
    assert "corrected from" in html


def test_a_correction_that_is_not_a_date_is_refused_naming_the_field(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    review = ImportFieldReview.objects.create(
        version=version,
        field="effective_end",
        label="Effective end",
        shown="2025-01-01",
        source_text="Ends 01/01/2025",
        confidence=0.5,
    )
    html = confirm(editor_client, version, review, corrected="soon")
    review.refresh_from_db()
    assert "Corrected value: &#x27;soon&#x27; is not a date" in html
    assert review.confirmed_at is None


def test_a_title_is_corrected_on_the_policy_while_confirming(editor, editor_client):
    version = imported(UNSURE_TITLE, editor)
    title = version.field_reviews.get(field="title")
    html = confirm(editor_client, version, title, corrected="Transcatheter edge-to-edge repair of the tricuspid valve")
    title.refresh_from_db()
    version.policy.refresh_from_db()
    assert version.policy.title == "Transcatheter edge-to-edge repair of the tricuspid valve"
    assert title.confirmed_at is not None and "corrected from" in html


def test_a_position_is_corrected_on_the_draft_not_while_confirming(editor, editor_client):
    version = imported(UNSURE_TITLE, editor)
    review = unsure(version, "positions", "Coverage position", {"position": "investigational", "indication": ""})
    html = confirm(editor_client, version, review, corrected="Medically necessary")
    review.refresh_from_db()
    assert "coverage position is corrected on the draft" in html and review.confirmed_at is None


def unsure(version: PolicyVersion, field: str, label: str, value: object, shown: str = "") -> ImportFieldReview:
    """A field the importer read below the threshold, as the import records one."""
    return ImportFieldReview.objects.create(
        version=version,
        field=field,
        position=version.field_reviews.filter(field=field).count() + 100,
        label=label,
        value=value,
        shown=shown or str(value),
        source_text="as the document wrote it",
        confidence=0.5,
    )


def code_review(version: PolicyVersion, system: str, code: str, code_end: str = "") -> ImportFieldReview:
    policy_code_add(version=version, system=system, code=code, code_end=code_end, description="as read")
    value = {"system": system, "code": code, "code_end": code_end, "description": "as read"}
    return unsure(version, "codes", "Codes", value, shown=f"{system} {code}")


def term_review(version: PolicyVersion, name: str, short: str) -> ImportFieldReview:
    PolicyTerm.objects.create(version=version, term=short, kind=TermKind.DEVICE)
    value = {"name": name, "short": short, "kind": "device"}
    return unsure(version, "terms", "Devices and procedure terms", value, shown=name)


def codes_of(version: PolicyVersion) -> set[tuple[str, str, str]]:
    return set(version.codes.values_list("system", "code", "code_end"))


def test_a_code_is_corrected_on_the_draft_then_confirmed(editor, editor_client):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "CPT", "93799")
    html = confirm(
        editor_client, version, review, corrected="CPT 0545T - Transcatheter tricuspid annulus reconstruction"
    )
    review.refresh_from_db()
    assert ("CPT", "93799", "") not in codes_of(version) and ("CPT", "0545T", "") in codes_of(version)
    assert version.codes.get(code="0545T").description == "Transcatheter tricuspid annulus reconstruction"
    assert review.confirmed_at is not None and "corrected from" in html


def test_a_code_is_corrected_to_a_range(editor):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "HCPCS", "E0601")
    import_field_review_confirm(review_id=review.pk, user=editor, corrected="HCPCS Level II E0470 to E0471")
    assert ("HCPCS", "E0470", "E0471") in codes_of(version)


def test_a_code_correction_that_is_not_a_code_is_refused_naming_the_field(editor, editor_client):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "CPT", "93799")
    html = confirm(editor_client, version, review, corrected="the valve code")
    review.refresh_from_db()
    assert "Corrected value: &#x27;the valve code&#x27; is not a code" in html
    assert review.confirmed_at is None and ("CPT", "93799", "") in codes_of(version)


def test_a_corrected_code_of_the_wrong_form_is_refused_and_the_read_code_kept(editor):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "CPT", "93799")
    with pytest.raises(ValidationFailed) as refused:
        import_field_review_confirm(review_id=review.pk, user=editor, corrected="CPT 9379")
    assert "is not a CPT code" in refused.value.errors["code"][0]
    assert ("CPT", "93799", "") in codes_of(version)


def test_a_misread_code_is_removed_from_the_draft(editor, editor_client):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "CPT", "93799")
    html = confirm(editor_client, version, review, remove=True)
    review.refresh_from_db()
    assert ("CPT", "93799", "") not in codes_of(version)
    assert review.confirmed_at is not None and review.corrected_from == "CPT 93799"
    assert "removed from the draft" in html
    event = AuditEvent.objects.filter(object_id=str(version.pk)).latest("pk")
    assert event.changes["codes"] == {"old": "CPT 93799", "new": None}


def test_a_term_is_corrected_on_the_draft_then_confirmed(editor):
    version = imported(UNSURE_TITLE, editor)
    review = term_review(version, "Valvex Clip Delivery System", "Valvex")
    import_field_review_confirm(review_id=review.pk, user=editor, corrected="Valvex Clip")
    assert version.terms.filter(term="Valvex Clip").exists() and not version.terms.filter(term="Valvex").exists()


def test_a_misread_term_is_removed_from_the_draft(editor):
    version = imported(UNSURE_TITLE, editor)
    review = term_review(version, "Guideline Suite", "Guideline Suite")
    import_field_review_confirm(review_id=review.pk, user=editor, remove=True)
    review.refresh_from_db()
    assert not version.terms.filter(term="Guideline Suite").exists() and review.value is None


def test_only_a_code_or_a_term_is_removed(editor):
    version = imported(UNSURE_TITLE, editor)
    title = version.field_reviews.get(field="title")
    with pytest.raises(ValidationFailed) as refused:
        import_field_review_confirm(review_id=title.pk, user=editor, remove=True)
    assert "only a code or a term is removed" in refused.value.errors["remove"][0]
    title.refresh_from_db()
    assert title.confirmed_at is None


def test_a_code_the_draft_no_longer_lists_is_refused_when_corrected(editor):
    version = imported(UNSURE_TITLE, editor)
    review = code_review(version, "CPT", "93799")
    version.codes.filter(code="93799").delete()
    with pytest.raises(ValidationFailed) as refused:
        import_field_review_confirm(review_id=review.pk, user=editor, corrected="CPT 0569T")
    assert "the draft no longer lists" in refused.value.errors["corrected"][0]


def test_only_a_drafts_fields_are_confirmed(editor):
    version = imported(UNSURE_TITLE, editor)
    for review in version.field_reviews.all():
        import_field_review_confirm(review_id=review.pk, user=editor)
    policy_version_submit_for_review(version_id=version.pk, user=editor)
    # A review recorded past the draft stage (by hand) is refused: the version is no longer editable.
    late = ImportFieldReview.objects.create(
        version=version, field="revised", label="Revised", shown="2024-01-01", confidence=0.5
    )
    with pytest.raises(InvalidTransition):
        import_field_review_confirm(review_id=late.pk, user=editor)


def test_only_policy_editors_confirm_imported_fields(editor):
    version = imported(UNSURE_TITLE, editor)
    review = version.field_reviews.get(field="title")
    with pytest.raises(PermissionDeniedError):
        import_field_review_confirm(review_id=review.pk, user=factories.user("nina.nurse", Role.NURSE))


def test_the_version_page_lists_unconfirmed_fields_and_links_to_their_review(editor_client, editor):
    version = imported(UNSURE_TITLE, editor)
    html = editor_client.get(reverse("admin:policies_app_policyversion_change", args=[version.pk])).content.decode()
    assert "Imported fields to confirm" in html
    assert f'href="{URL}?draft={version.pk}"' in html


def hba1c(version: PolicyVersion) -> Criterion:
    return Criterion.objects.get(version=version, label__startswith="HbA1c")


def test_a_new_fact_is_added_to_the_catalogue_from_the_review(editor_client, editor):
    version = imported("nat-02-bariatric-surgery.txt", editor)
    data = {"step": "fact", "draft": version.pk, "key": "hba1c_percent", "label": "HbA1c", "value_type": "number"}
    html = editor_client.post(URL, {**data, "unit": "%"}, follow=True).content.decode()
    fact = FactDefinition.objects.get(key="hba1c_percent")
    assert (fact.label, fact.value_type, fact.unit) == ("HbA1c", "number", "%")
    assert "added to the fact catalogue" in html
    assert AuditEvent.objects.filter(object_type="policies_app.factdefinition", object_id=str(fact.pk)).exists()


def test_a_fact_key_already_in_the_catalogue_is_refused(editor):
    fact_definition_create(user=editor, key="hba1c_percent", label="HbA1c", value_type="number")
    with pytest.raises(ValidationFailed) as refused:
        fact_definition_create(user=editor, key="hba1c_percent", label="Again", value_type="number")
    assert list(refused.value.errors) == ["key"]


def test_a_documented_criterion_is_mapped_to_a_catalogue_fact_from_the_review(editor_client, editor):
    version = imported("nat-02-bariatric-surgery.txt", editor)
    fact_definition_create(user=editor, key="hba1c_percent", label="HbA1c", value_type="number", unit="%")
    node = hba1c(version)
    assert f'id="criterion-{node.pk}"' in editor_client.get(f"{URL}?draft={version.pk}").content.decode()
    data = {"step": "map", "draft": version.pk, "criterion": node.pk, "fact": "hba1c_percent", "operator": "lt"}
    html = editor_client.post(URL, {**data, "value": "8.0"}, follow=True).content.decode()
    node.refresh_from_db()
    assert (node.node_type, node.fact.key, node.operator, node.value) == ("leaf", "hba1c_percent", "lt", 8)
    assert "is now tested on" in html


def test_a_mapping_value_of_the_wrong_kind_is_refused_naming_the_value(editor_client, editor):
    version = imported("nat-02-bariatric-surgery.txt", editor)
    fact_definition_create(user=editor, key="hba1c_percent", label="HbA1c", value_type="number")
    node = hba1c(version)
    data = {"step": "map", "draft": version.pk, "criterion": node.pk, "fact": "hba1c_percent", "operator": "lt"}
    html = editor_client.post(URL, {**data, "value": "high"}, follow=True).content.decode()
    node.refresh_from_db()
    assert "Value: &#x27;high&#x27; is not a number" in html
    assert node.node_type == "documented"


@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN, Role.AUDITOR], ids=lambda r: r.value)
def test_only_policy_editors_open_or_post_to_a_drafts_review(role, editor):
    version = imported(UNSURE_TITLE, editor)
    review = version.field_reviews.get(field="title")
    client = Client()
    client.force_login(factories.user(f"staff.{role.value}", role, staff=True))
    assert client.get(f"{URL}?draft={version.pk}").status_code == 403
    data = {"step": "confirm", "draft": version.pk, "review": review.pk}
    assert client.post(URL, data).status_code == 403
    review.refresh_from_db()
    assert review.confirmed_at is None


def test_a_review_of_an_unknown_draft_is_not_found(editor_client):
    assert editor_client.get(f"{URL}?draft=999999").status_code == 404
    assert editor_client.get(f"{URL}?draft=abc").status_code == 404


def test_a_criterion_read_below_the_threshold_is_confirmed_like_a_field(editor):
    version = imported("reg-01-lumbar-fusion.source.html", editor)
    criterion = version.field_reviews.get(field="criteria")
    assert criterion.label == "Criterion" and criterion.shown.startswith("At least 6 months of conservative")
    import_field_review_confirm(review_id=criterion.pk, user=editor)
    assert not version.field_reviews.filter(field="criteria", confirmed_at__isnull=True).exists()
