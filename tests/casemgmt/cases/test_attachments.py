"""Attachments: accepted by content, stored outside the web root, seen only by who may see the case."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from casemgmt.api import attachments as attachments_api
from casemgmt.cases.models import Attachment, CaseEvent, CaseEventKind
from casemgmt.cases.services.attachments import ATTACHMENT_NAME_MAX, attachment_add, attachment_name_sanitize
from casemgmt.cases.services.transitions import case_cancel
from casemgmt.kernel.errors import InvalidTransition, PermissionDeniedError, ValidationFailed
from casemgmt.security.services import api_token_create
from tests import factories

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 40
TIFF_LITTLE_ENDIAN = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 40
TIFF_BIG_ENDIAN = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 40
EXECUTABLE = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 40
HTML = b"<!doctype html><html><script>alert(document.cookie)</script></html>"


def client_for(user) -> APIClient:
    _, raw = api_token_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def upload(api: APIClient, case_number: str, name: str, content: bytes, **extra):
    declared = extra.pop("declared_type", "application/pdf")
    body = {"file": SimpleUploadedFile(name, content, content_type=declared), **extra.pop("fields", {})}
    return api.post(f"/api/v1/cases/{case_number}/attachments", body, format="multipart", **extra)


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STATIC_ROOT = tmp_path / "static"
    return settings.MEDIA_ROOT


@pytest.fixture
def case(integration_client):
    return factories.case(integration_client)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (TIFF_LITTLE_ENDIAN, "image/tiff"),
        (TIFF_BIG_ENDIAN, "image/tiff"),
    ],
    ids=["pdf", "png", "jpeg", "tiff-ii", "tiff-mm"],
)
def test_each_accepted_type_is_stored_with_its_detected_type(integration_client, case, content, content_type):
    response = upload(client_for(integration_client), case.case_number, "document.bin", content)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["content_type"], body["size"]) == (content_type, len(content))
    assert body["sha256"] == hashlib.sha256(content).hexdigest()


def test_png_named_pdf_is_stored_as_png(integration_client, case):
    response = upload(
        client_for(integration_client), case.case_number, "scan.pdf", PNG, declared_type="application/pdf"
    )
    assert response.status_code == 201
    attachment = Attachment.objects.get()
    assert attachment.content_type == "image/png"
    assert attachment.file.name.endswith(".png")
    assert attachment.original_name == "scan.pdf"


def test_executable_named_pdf_is_400_naming_file(integration_client, case):
    response = upload(client_for(integration_client), case.case_number, "records.pdf", EXECUTABLE)
    assert response.status_code == 400
    assert "PDF, PNG, JPEG or TIFF" in response.json()["errors"]["file"][0]


def test_html_named_pdf_is_400_naming_file(integration_client, case):
    response = upload(client_for(integration_client), case.case_number, "records.pdf", HTML)
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"file"}


def test_empty_file_is_400_naming_file(integration_client, case):
    response = upload(client_for(integration_client), case.case_number, "empty.pdf", b"")
    assert response.status_code == 400
    assert "file" in response.json()["errors"]


def test_too_large_is_413_naming_file(integration_client, case, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    response = upload(client_for(integration_client), case.case_number, "big.pdf", PDF + b"\x00" * 1000)
    assert response.status_code == 413
    body = response.json()
    assert "1000 bytes" in body["errors"]["file"][0]
    assert body["detail"].startswith("file:")


@pytest.mark.parametrize("size", [1_500, 200_000], ids=["while-streaming", "by-content-length"])
def test_too_large_upload_is_refused_before_the_service_runs(integration_client, case, settings, monkeypatch, size):
    settings.ATTACHMENT_MAX_BYTES = 1000

    def not_reached(**kwargs):
        raise AssertionError("the upload handler should have refused this")

    monkeypatch.setattr(attachments_api, "attachment_add", not_reached)
    response = upload(client_for(integration_client), case.case_number, "huge.pdf", PDF + b"\x00" * size)
    assert response.status_code == 413
    assert "file" in response.json()["errors"]


def test_file_at_the_limit_is_accepted(integration_client, case, settings):
    content = PDF + b"\x00" * (1000 - len(PDF))
    settings.ATTACHMENT_MAX_BYTES = len(content)
    assert upload(client_for(integration_client), case.case_number, "edge.pdf", content).status_code == 201


@pytest.mark.parametrize(
    ("name", "content", "max_bytes"),
    [("records.pdf", HTML, 20_000), ("big.pdf", PDF + b"\x00" * 5000, 1000)],
    ids=["wrong-type", "too-large"],
)
def test_nothing_is_written_when_refused(integration_client, case, media_root, settings, name, content, max_bytes):
    settings.ATTACHMENT_MAX_BYTES = max_bytes
    response = upload(client_for(integration_client), case.case_number, name, content)
    assert response.status_code in (400, 413)
    assert stored_files(media_root) == []
    assert not Attachment.objects.exists()
    assert not CaseEvent.objects.filter(kind=CaseEventKind.ATTACHMENT_ADDED).exists()


def test_no_orphan_file_when_the_database_write_fails(integration_client, case, media_root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Attachment.objects, "create", broken)
    with pytest.raises(RuntimeError):
        attachment_add(
            case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("a.pdf", PDF), description=""
        )
    assert stored_files(media_root) == []


def test_attaching_to_a_cancelled_case_is_409_and_stores_nothing(integration_client, case, media_root):
    case_cancel(case_id=case.pk, user=integration_client)
    response = upload(client_for(integration_client), case.case_number, "late.pdf", PDF)
    assert response.status_code == 409
    assert response.json()["current_status"] == "cancelled"
    assert stored_files(media_root) == []


def test_stored_file_is_under_media_root_outside_static_root_with_a_random_name(integration_client, case, settings):
    upload(client_for(integration_client), case.case_number, "member-jane-doe.pdf", PDF)
    attachment = Attachment.objects.get()
    path = Path(attachment.file.path).resolve()
    assert path.is_relative_to(Path(settings.MEDIA_ROOT).resolve() / "attachments")
    assert not path.is_relative_to(Path(settings.STATIC_ROOT).resolve())
    assert "jane" not in path.name
    assert path.read_bytes() == PDF


def test_stored_file_is_readable_by_the_application_only(integration_client, case):
    upload(client_for(integration_client), case.case_number, "a.pdf", PDF)
    assert Path(Attachment.objects.get().file.path).stat().st_mode & 0o077 == 0


def test_original_name_is_sanitized(integration_client, case):
    upload(client_for(integration_client), case.case_number, "..\\..\\etc/pass\x00wd\u202e.pdf", PDF)
    assert Attachment.objects.get().original_name == "passwd.pdf"


def test_long_name_keeps_its_extension():
    name = attachment_name_sanitize("x" * 300 + ".pdf")
    assert len(name) == ATTACHMENT_NAME_MAX
    assert name.endswith("x.pdf")


def test_nameless_upload_gets_a_placeholder_name():
    assert attachment_name_sanitize("../..") == "attachment"


def test_attachment_event_is_recorded_without_the_file_name(integration_client, case):
    upload(client_for(integration_client), case.case_number, "member-jane-doe.pdf", PDF)
    event = CaseEvent.objects.get(kind=CaseEventKind.ATTACHMENT_ADDED)
    assert event.actor == integration_client
    assert event.detail["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert "jane" not in str(event.detail)


def test_nurse_may_attach_to_any_case(nurse, case):
    response = upload(client_for(nurse), case.case_number, "note.png", PNG)
    assert response.status_code == 201
    assert Attachment.objects.get().uploaded_by == nurse


def test_manager_may_see_but_not_attach(manager, case):
    with pytest.raises(PermissionDeniedError):
        attachment_add(case_id=case.pk, user=manager, upload=SimpleUploadedFile("a.pdf", PDF))


def test_service_refuses_wrong_type_naming_file(integration_client, case):
    with pytest.raises(ValidationFailed) as excinfo:
        attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("a.pdf", HTML))
    assert set(excinfo.value.errors) == {"file"}


def test_service_refuses_closed_case_with_current_status(integration_client, case):
    case_cancel(case_id=case.pk, user=integration_client)
    with pytest.raises(InvalidTransition) as excinfo:
        attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("a.pdf", PDF))
    assert excinfo.value.extra["current_status"] == "cancelled"


def test_list_shows_metadata_only(integration_client, case):
    api = client_for(integration_client)
    upload(api, case.case_number, "a.pdf", PDF, fields={"description": "MRI report"})
    response = api.get(f"/api/v1/cases/{case.case_number}/attachments")
    assert response.status_code == 200
    [item] = response.json()
    assert set(item) == {
        "id",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "description",
        "uploaded_by",
        "uploaded_at",
    }
    assert (item["original_name"], item["description"]) == ("a.pdf", "MRI report")


def test_download_streams_the_file_with_safe_headers(integration_client, case):
    api = client_for(integration_client)
    attachment_id = upload(api, case.case_number, 'scan "1".png', PNG).json()["id"]
    response = api.get(f"/api/v1/cases/{case.case_number}/attachments/{attachment_id}", HTTP_ACCEPT="image/png")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Cache-Control"] == "private, no-store"


def test_another_client_gets_404_on_list_and_download(integration_client, other_client, case):
    attachment_id = upload(client_for(integration_client), case.case_number, "a.pdf", PDF).json()["id"]
    api = client_for(other_client)
    assert api.get(f"/api/v1/cases/{case.case_number}/attachments").status_code == 404
    assert api.get(f"/api/v1/cases/{case.case_number}/attachments/{attachment_id}").status_code == 404


def test_another_client_cannot_attach(other_client, case, media_root):
    assert upload(client_for(other_client), case.case_number, "a.pdf", PDF).status_code == 404
    assert stored_files(media_root) == []


def test_outsider_gets_404_on_list_and_download(integration_client, outsider, case):
    attachment_id = upload(client_for(integration_client), case.case_number, "a.pdf", PDF).json()["id"]
    api = client_for(outsider)
    assert api.get(f"/api/v1/cases/{case.case_number}/attachments").status_code == 404
    assert api.get(f"/api/v1/cases/{case.case_number}/attachments/{attachment_id}").status_code == 404


def test_attachment_of_another_case_is_404(integration_client, case):
    api = client_for(integration_client)
    attachment_id = upload(api, case.case_number, "a.pdf", PDF).json()["id"]
    mine_too = factories.case(integration_client, external_id="EHR-2")
    assert api.get(f"/api/v1/cases/{mine_too.case_number}/attachments/{attachment_id}").status_code == 404


def test_idempotent_retry_returns_the_first_attachment_and_stores_one(integration_client, case, media_root):
    api = client_for(integration_client)
    first = upload(api, case.case_number, "a.pdf", PDF, HTTP_IDEMPOTENCY_KEY="k-1")
    again = upload(api, case.case_number, "a.pdf", PDF, HTTP_IDEMPOTENCY_KEY="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Attachment.objects.count() == 1
    assert len(stored_files(media_root)) == 1


def test_same_key_with_another_file_is_422(integration_client, case):
    api = client_for(integration_client)
    upload(api, case.case_number, "a.pdf", PDF, HTTP_IDEMPOTENCY_KEY="k-1")
    response = upload(api, case.case_number, "a.pdf", PDF + b"%changed", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 422
    assert Attachment.objects.count() == 1


def test_json_body_to_upload_is_415(integration_client, case):
    response = client_for(integration_client).post(
        f"/api/v1/cases/{case.case_number}/attachments", {"file": "x"}, format="json"
    )
    assert response.status_code == 415


def test_unknown_form_field_is_400(integration_client, case):
    response = upload(client_for(integration_client), case.case_number, "a.pdf", PDF, fields={"owner": "me"})
    assert response.status_code == 400
    assert "owner" in response.json()["errors"]


def test_other_views_stay_json_only(integration_client, case):
    response = client_for(integration_client).post(
        f"/api/v1/cases/{case.case_number}/cancel", {"reason": "x"}, format="multipart"
    )
    assert response.status_code == 415
