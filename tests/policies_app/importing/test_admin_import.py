"""The editors' import page: read a document beside its sources, then create the draft through the service."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from casemgmt.kernel.roles import Role
from casemgmt.security.services import roles_sync_permissions
from policies_app.importing.services import import_field_review_confirm
from policies_app.models import CoveragePosition, ImportUpload, Policy, PolicyVersion
from policies_app.services import policy_version_publish, policy_version_submit_for_review
from tests import factories
from tests.policies_app.importing.conftest import CORPUS

URL = "/admin/policies_app/policy/import/"


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


@pytest.fixture
def editor_client(editor) -> Client:
    client = Client()
    client.force_login(editor)
    return client


def read(client: Client, name: str, payer: str = "") -> Any:
    upload = SimpleUploadedFile(name, (CORPUS / name).read_bytes())
    return client.post(URL, {"step": "read", "document": upload, "payer": payer})


def create(client: Client, response: Any) -> Any:
    form = response.context["create_form"]
    return client.post(URL, {"step": "create", **{k: form.initial[k] for k in ("sha256", "payer")}})


def test_the_url_is_the_import_page_of_the_policy_admin():
    assert reverse("admin:policies_app_policy_import") == URL


def test_the_policy_list_links_to_the_import_page(editor_client):
    response = editor_client.get(reverse("admin:policies_app_policy_changelist"))
    assert f'href="{URL}"' in response.content.decode()


def test_an_uploaded_text_file_is_shown_with_its_sources_and_writes_nothing(editor_client):
    response = read(editor_client, "nat-01-si-joint-fusion.txt")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="src-f-number"' in html and 'data-field="f-number"' in html
    number = re.search(r'<mark data-fields="[^"]*\bf-number\b[^"]*" id="src-f-number">([^<]*)</mark>', html)
    assert number is not None and "0815" in number.group(1)
    assert "Sacroiliac Joint Fusion" in html
    assert 'value="Create draft"' in html
    assert (Policy.objects.count(), PolicyVersion.objects.count()) == (0, 0)


def test_criteria_are_shown_with_their_fact_mappings(editor_client):
    html = read(editor_client, "nat-01-si-joint-fusion.txt").content.decode()
    assert "Age 18 years or older" in html
    assert "At least 3 of" in html
    assert 'data-field="c-0-0"' in html


def test_fields_below_the_threshold_are_marked_check_this(editor_client):
    response = read(editor_client, "ho-02-tricuspid-teer.txt")
    title = next(row for row in response.context["field_rows"] if row.ident == "f-title")
    assert title.check is True
    row = re.search(r'<tr id="f-title" class="check">.*?</tr>', response.content.decode(), re.S)
    assert row is not None and "check this" in row.group(0)


def test_an_uploaded_web_page_is_read(editor_client):
    response = read(editor_client, "uni-01-spinal-cord-stimulation.html")
    assert response.context["readable"] is True
    assert response.context["result"].layout == "html"
    assert "<mark" in response.content.decode()


def test_pasted_text_is_read(editor_client):
    text = (CORPUS / "nat-02-bariatric-surgery.txt").read_text()
    response = editor_client.post(URL, {"step": "read", "text": text, "payer": ""})
    assert response.context["readable"] is True
    assert response.context["filename"] == "pasted-text.txt"
    assert response.context["result"].value("number")


def test_neither_file_nor_text_is_a_clear_error(editor_client):
    response = editor_client.post(URL, {"step": "read", "text": "  ", "payer": ""})
    assert "Choose a file to upload, or paste the policy" in response.content.decode()


def test_a_file_of_another_kind_is_refused_by_name(editor_client):
    upload = SimpleUploadedFile("scan.png", b"\x89PNG\r\n")
    response = editor_client.post(URL, {"step": "read", "document": upload})
    assert "scan.png: choose a .txt, .html or .pdf file" in response.content.decode()


def test_a_file_larger_than_the_import_limit_is_refused_by_name(editor_client, settings):
    settings.POLICY_IMPORT_MAX_BYTES = 32 * 1024
    upload = SimpleUploadedFile("huge.txt", b"Policy Number: 1\n" + b"x" * (64 * 1024))
    response = editor_client.post(URL, {"step": "read", "document": upload})
    assert "huge.txt: the file is larger than" in response.content.decode()
    assert ImportUpload.objects.count() == 0


def test_an_upload_larger_than_the_request_body_limit_still_makes_its_draft(editor_client, settings):
    # The document is held server-side, not carried back in the form, so only POLICY_IMPORT_MAX_BYTES bounds it.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 96 * 1024
    text = (CORPUS / "nat-01-si-joint-fusion.txt").read_text() + "\n" + "Background note.\n" * 16000
    upload = SimpleUploadedFile("long.txt", text.encode())
    read_page = editor_client.post(URL, {"step": "read", "document": upload})
    assert len(text.encode()) > 2 * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert 'name="content"' not in read_page.content.decode()
    assert create(editor_client, read_page).status_code == 302
    version = PolicyVersion.objects.get()
    assert version.policy.number == "0815"
    assert version.source_sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_the_held_copy_is_released_once_its_draft_is_made(editor_client):
    response = read(editor_client, "nat-01-si-joint-fusion.txt")
    assert ImportUpload.objects.count() == 1
    create(editor_client, response)
    assert ImportUpload.objects.count() == 0


def test_a_held_copy_that_no_longer_matches_its_sha256_is_refused(editor_client):
    response = read(editor_client, "nat-01-si-joint-fusion.txt")
    ImportUpload.objects.update(data=b"Policy Number: 9999\nSomething else entirely.")
    response = create(editor_client, response)
    assert "No draft was created: the held copy of the document is not the one that was read" in (
        response.content.decode()
    )
    assert PolicyVersion.objects.count() == 0


def test_an_editor_cannot_create_a_draft_from_another_editors_held_document(editor_client):
    sha = read(editor_client, "nat-01-si-joint-fusion.txt").context["create_form"].initial["sha256"]
    other = Client()
    other.force_login(factories.user("second.editor", Role.POLICY_EDITOR, staff=True))
    response = other.post(URL, {"step": "create", "sha256": sha, "payer": ""})
    assert "No draft was created: the document read on this page is no longer held" in response.content.decode()
    assert PolicyVersion.objects.count() == 0


def test_held_copies_older_than_the_hold_hours_are_purged_on_the_next_read(editor_client, settings):
    read(editor_client, "nat-01-si-joint-fusion.txt")
    ImportUpload.objects.update(held_at=timezone.now() - timedelta(hours=settings.POLICY_IMPORT_HOLD_HOURS + 1))
    read(editor_client, "nat-02-bariatric-surgery.txt")
    assert list(ImportUpload.objects.values_list("filename", flat=True)) == ["nat-02-bariatric-surgery.txt"]


def test_a_binary_file_gets_a_clear_error_and_writes_nothing(editor_client):
    upload = SimpleUploadedFile("bad.txt", b"\x00\x01\x02binary\xff")
    response = editor_client.post(URL, {"step": "read", "document": upload})
    html = response.content.decode()
    assert response.context["readable"] is False
    assert "cannot be imported, and nothing was written" in html
    assert 'value="Create draft"' not in html
    assert (Policy.objects.count(), PolicyVersion.objects.count()) == (0, 0)


def test_creating_from_a_document_that_was_never_read_writes_nothing(editor_client):
    response = editor_client.post(URL, {"step": "create", "sha256": "a" * 64, "payer": ""})
    assert response.status_code == 200
    assert "No draft was created: the document read on this page is no longer held" in response.content.decode()
    assert (Policy.objects.count(), PolicyVersion.objects.count()) == (0, 0)


def test_a_create_request_without_its_document_is_refused_clearly(editor_client):
    response = editor_client.post(URL, {"step": "create", "sha256": "not a digest", "payer": ""})
    assert "No draft was created: the form did not name the document read" in response.content.decode()
    assert PolicyVersion.objects.count() == 0


def test_create_draft_makes_the_draft_and_opens_its_review(editor_client, editor):
    response = create(editor_client, read(editor_client, "nat-01-si-joint-fusion.txt"))
    version = PolicyVersion.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{URL}?draft={version.pk}"
    review = editor_client.get(response["Location"]).content.decode()
    assert reverse("admin:policies_app_policyversion_change", args=[version.pk]) in review
    assert (version.status, version.created_by, version.policy.number) == ("draft", editor, "0815")


@pytest.mark.parametrize("role", [Role.NURSE, Role.PHYSICIAN, Role.MANAGER, Role.AUDITOR], ids=lambda r: r.value)
def test_only_policy_editors_may_import(role):
    client = Client()
    client.force_login(factories.user(f"staff.{role.value}", role, staff=True))
    upload = SimpleUploadedFile("p.txt", (CORPUS / "nat-01-si-joint-fusion.txt").read_bytes())
    assert client.get(URL).status_code == 403
    assert client.post(URL, {"step": "read", "document": upload}).status_code == 403
    assert PolicyVersion.objects.count() == 0


def publish_first_import(client: Client, editor, name: str) -> PolicyVersion:
    create(client, read(client, name))
    first = PolicyVersion.objects.get()
    # What the editor would settle on the draft's page: the notes, and one position for the version.
    first.missing_fields = []
    if first.coverage_position == CoveragePosition.UNDETERMINED:
        first.coverage_position = CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA
    first.save(update_fields=["missing_fields", "coverage_position"])
    for review in first.field_reviews.all():
        import_field_review_confirm(review_id=review.pk, user=editor)
    policy_version_submit_for_review(version_id=first.pk, user=editor)
    policy_version_publish(version_id=first.pk, user=factories.user("second.editor", Role.POLICY_EDITOR))
    return first


def test_a_newer_revision_shows_its_differences_and_the_proposed_end_date(editor_client, editor):
    first = publish_first_import(editor_client, editor, "blue-01-interspinous-spacers.txt")
    revised = (CORPUS / "blue-01-interspinous-spacers.txt").read_text().replace("October 2024", "April 2026")
    response = editor_client.post(URL, {"step": "read", "text": revised})
    revision = response.context["revision"]
    html = response.content.decode()
    assert revision is not None and revision.published.pk == first.pk
    assert any(row.changed and row.label == "Effective start" for row in revision.rows)
    assert "A newer revision of" in html and "2026-03-31" in html


def test_a_newer_revision_shows_the_criteria_tree_beside_the_published_one(editor_client, editor):
    first = publish_first_import(editor_client, editor, "nat-01-si-joint-fusion.txt")
    original = (CORPUS / "nat-01-si-joint-fusion.txt").read_text()
    assert "Age 18 years or older" in original
    revised = original.replace("Age 18 years or older", "Age 21 years or older")
    response = editor_client.post(URL, {"step": "read", "text": revised})
    revision = response.context["revision"]
    assert revision is not None and revision.published.pk == first.pk
    changed = [line for line in revision.criteria if line.changed]
    assert any("18 years" in line.published and "21 years" in line.document for line in changed)
    assert any(not line.changed and line.published for line in revision.criteria)
    assert "import-criteria-diff" in response.content.decode()
