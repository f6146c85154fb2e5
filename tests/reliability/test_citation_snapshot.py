"""A decision's citation says forever what it rested on, whatever happens to the policy later.

Extends tests/casemgmt/cases/test_services.py (which renames a policy): here the cited version is
retired, its successor published with another position and statement, the policy's identity
edited at the database level, and the stored source document overwritten. The citation row,
the decision as the API shows it and the letter all keep the words of the day; the content hash
in the citation still equals the version's frozen hash, and shows that the library's current
text (after the policy was renamed) is no longer what the decision rested on.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.db import DatabaseError, transaction
from django.test import Client
from rest_framework.test import APIClient

from casemgmt.cases.models import Citation, Decision, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.security.services import api_token_create
from policies_app.models import Policy, PolicyVersion
from policies_app.selectors import content_sha256
from policies_app.services import policy_version_draft_from, policy_version_retire
from tests import factories

pytestmark = pytest.mark.django_db

CRITERION = "Image-guided decompression is investigational for lumbar stenosis."


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def cited(editor: User) -> PolicyVersion:
    draft = factories.draft_version(
        statement="The procedure is investigational.",
        effective_start=date(2024, 1, 1),
    )
    draft.source_document.save("source.txt", ContentFile(b"07.01.89 original text"), save=True)
    return factories.publish(draft, editor)


@pytest.fixture
def denial(integration_client: User, physician: User, cited: PolicyVersion) -> Decision:
    case = factories.case(integration_client)
    return decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason="Investigational.")],
        citations=[CitationInput(policy_version_id=cited.pk, criterion=CRITERION)],
        rationale="Investigational per the cited policy.",
    )


def citation_rows() -> list[Any]:
    return list(Citation.objects.values().order_by("pk"))


def everything_changes(cited: PolicyVersion, editor: User) -> None:
    """What may happen to a policy after a decision cites it."""
    policy_version_retire(version_id=cited.pk, user=editor)
    successor = policy_version_draft_from(version_id=cited.pk, user=editor, version_label="2026-01")
    PolicyVersion.objects.filter(pk=successor.pk).update(
        coverage_position="medically_necessary",
        statement="Now covered when criteria are met.",
        effective_start=date(2026, 1, 1),
    )
    factories.publish(PolicyVersion.objects.get(pk=successor.pk), editor)
    # Renamed behind the admin's back (the admin keeps these read-only once a version is published).
    Policy.objects.filter(pk=cited.policy_id).update(number="TP.99", title="Renamed later", payer="Another payer")
    with cited.source_document.open("wb") as handle:
        handle.write(b"rewritten source")


def test_the_citation_row_is_unchanged(denial: Decision, cited: PolicyVersion, editor: User) -> None:
    before = citation_rows()
    everything_changes(cited, editor)
    assert citation_rows() == before
    citation = Citation.objects.get()
    assert (citation.policy_number, citation.policy_title, citation.payer) == (
        "TP.01",
        "Test procedure policy",
        "Test Health Plan",
    )
    assert (citation.version_label, citation.coverage_position) == ("2024-01", "investigational")
    assert citation.effective_start == date(2024, 1, 1)
    assert citation.criterion == CRITERION


def test_the_hash_proves_what_the_decision_rested_on(denial: Decision, cited: PolicyVersion, editor: User) -> None:
    citation = Citation.objects.get()
    assert citation.content_sha256 == cited.content_sha256 == content_sha256(cited)
    everything_changes(cited, editor)
    version = PolicyVersion.objects.get(pk=cited.pk)
    # The version's frozen hash still matches the citation...
    assert version.content_sha256 == citation.content_sha256
    # ...and recomputing it from the library as it is now shows the policy was changed since.
    assert content_sha256(version) != citation.content_sha256


def test_the_cited_version_itself_cannot_be_edited(denial: Decision, cited: PolicyVersion) -> None:
    with pytest.raises(DatabaseError), transaction.atomic():
        PolicyVersion.objects.filter(pk=cited.pk).update(statement="Quietly reworded.")
    with pytest.raises(DatabaseError), transaction.atomic():
        cited.codes.update(code="99999")
    assert PolicyVersion.objects.get(pk=cited.pk).statement == "The procedure is investigational."


def test_the_api_and_the_letter_keep_the_words_of_the_day(
    denial: Decision, cited: PolicyVersion, editor: User, integration_client: User, physician: User
) -> None:
    everything_changes(cited, editor)
    _, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    decisions = api.get(f"/api/v1/cases/{denial.case.case_number}/decisions").json()
    citation = decisions[0]["citations"][0]
    assert citation["policy_title"] == "Test procedure policy"
    assert citation["policy_number"] == "TP.01"
    assert citation["criterion"] == CRITERION

    browser = Client()
    browser.force_login(physician)
    letter = browser.get(f"/cases/{denial.case.case_number}/letter/{denial.pk}/").content.decode()
    assert "Test procedure policy" in letter
    assert "Renamed later" not in letter
