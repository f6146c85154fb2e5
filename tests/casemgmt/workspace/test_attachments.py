"""A case's attachments on the case page, shown to reviewers only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from casemgmt.cases.services.attachments import attachment_add
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


def page(user, case) -> str:
    return signed_in(user).get(f"/cases/{case.case_number}/").content.decode()


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_image_attachment_is_shown_inline_and_streamed_with_its_type(integration_client, nurse):
    case = factories.case(integration_client)
    attachment = attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("xray.png", PNG))
    url = f"/cases/{case.case_number}/attachments/{attachment.pk}/view"
    assert f'<img src="{url}"' in page(nurse, case)
    response = signed_in(nurse).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert signed_in(integration_client).get(url).status_code == 403
