"""A document that makes coverage depend on criteria the importer could not read: the editor is told at once."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from casemgmt.security.services import roles_sync_permissions
from policies_app.importing import extract_document
from policies_app.models import CoveragePosition

URL = "/admin/policies_app/policy/import/"

# Invented: the criteria live in a worksheet the document only names.
UNREAD = b"""Riverbend Health Plan
Medical Policy MP-4411: Balloon Sinus Dilation

Effective Date: 03/01/2026

Policy
Balloon sinus dilation is considered medically necessary when the criteria in the plan's sinus surgery worksheet are met.

Codes
CPT 31295 Nasal/sinus endoscopy, surgical, with dilation of maxillary sinus ostium
"""
READ = UNREAD.replace(
    b"when the criteria in the plan's sinus surgery worksheet are met.",
    b"when all of the following are met:\n1. Age 18 years or older\n2. Chronic rhinosinusitis confirmed on CT",
)
PLAIN = UNREAD.replace(
    b"when the criteria in the plan's sinus surgery worksheet are met.", b"for members with chronic rhinosinusitis."
)


@pytest.fixture(autouse=True)
def role_permissions(db: None) -> None:
    roles_sync_permissions()


def test_a_position_with_criteria_and_no_list_read_asks_for_the_criteria():
    result = extract_document(UNREAD, file="mp-4411.txt")
    unread = result.criteria_unread()
    assert unread is not None and "sinus surgery worksheet" in unread.source.text
    assert "criteria" in result.needs_review()


def test_a_position_whose_criteria_list_is_read_asks_nothing_more():
    result = extract_document(READ, file="mp-4411.txt")
    assert result.criteria and result.criteria_unread() is None


def test_a_position_without_criteria_asks_for_none():
    result = extract_document(PLAIN, file="mp-4411.txt")
    assert [f.value["position"] for f in result.many("positions")] != [
        CoveragePosition.MEDICALLY_NECESSARY_WITH_CRITERIA
    ]
    assert result.criteria_unread() is None


def test_the_json_lists_unread_criteria_as_needing_review():
    assert "criteria" in extract_document(UNREAD, file="mp-4411.txt").as_json()["needs_review"]


def test_the_import_page_warns_that_no_criteria_list_was_read(editor):
    client = Client()
    client.force_login(editor)
    upload = SimpleUploadedFile("mp-4411.txt", UNREAD, content_type="text/plain")
    html = client.post(URL, {"step": "read", "document": upload, "payer": ""}).content.decode()
    assert "No criteria list was read, though the document makes coverage depend on criteria." in html
    assert 'data-field="f-positions-0"' in html
    assert "The document states no criteria list." not in html
