"""Fixtures for the audit log tests: a case with a decision and an attachment, and ways to call."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import Attachment, Case, Decision
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.security.services import api_token_create
from tests import factories

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40
BROWSER_AGENT = "Mozilla/5.0 (audit test)"


def web(user, *, ip: str = "10.1.2.3") -> Client:
    """A signed-in browser calling from `ip`."""
    browser = Client(REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER_AGENT)
    browser.force_login(user)
    return browser


def api(user, *, ip: str = "10.9.8.7") -> APIClient:
    _, raw = api_token_create(user=user, label="audit tests")
    client = APIClient(REMOTE_ADDR=ip, HTTP_USER_AGENT="ehr-client/2.1")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def rows(**filters) -> list[AuditEvent]:
    """Audit rows matching the filters, oldest first."""
    return list(AuditEvent.objects.filter(**filters).order_by("at", "id"))


def only(**filters) -> AuditEvent:
    found = rows(**filters)
    assert len(found) == 1, f"expected one audit row for {filters}, found {[str(e) for e in found]}"
    return found[0]


@dataclass
class World:
    case: Case
    decision: Decision
    attachment: Attachment


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def version(editor):
    return factories.publish(factories.draft_version(), editor)


@pytest.fixture
def world(integration_client, physician, version) -> World:
    """A case submitted by the client, denied by the physician citing the policy, with a PNG attached."""
    case = factories.case(integration_client)
    attachment = attachment_add(
        case_id=case.pk,
        user=integration_client,
        upload=SimpleUploadedFile("scan.png", PNG, content_type="image/png"),
        description="MRI",
    )
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="The procedure is unproven.")],
        citations=[CitationInput(policy_version_id=version.pk, criterion="It is investigational.")],
    )
    case.refresh_from_db()
    return World(case=case, decision=decision, attachment=attachment)
