"""The reviewers' retrospective queue and item page, and the run progress fragments."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from casemgmt.cases.models import Decision
from casemgmt.retro import services
from casemgmt.retro.models import RetroItemStatus, RetroResolution, RetroReviewItem, RetroSchedule
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def item(library, editor, nurse, integration_client, django_capture_on_commit_callbacks) -> RetroReviewItem:
    """An approved service that the version now in effect calls investigational."""
    decided_case(integration_client, nurse, code="62330", dos=days_ago(50), cite=[library.a1])
    publish_replacements(library, editor)
    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(100)})
    with django_capture_on_commit_callbacks(execute=True):
        services.retro_run_nightly(today=timezone.localdate() + timedelta(days=1))
    return RetroReviewItem.objects.get()


def no_inline_code(html: str) -> None:
    assert not INLINE_SCRIPT.search(html), "inline script"
    assert " style=" not in html, "inline style attribute"


def test_the_work_queue_links_to_the_retrospective_queue_with_its_count(item, nurse):
    html = browser(nurse).get("/queue/").content.decode()
    assert 'href="/queue/retro/"' in html and "1 open item" in html


def test_a_nurse_sees_the_item_with_both_citations_side_by_side(item, nurse):
    response = browser(nurse).get(f"/queue/retro/{item.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Decision of record" in html and "Re-evaluation" in html
    assert "version A1" in html and "version A2" in html
    assert "Approved, but the service is investigational under the version in effect" in html
    assert "approved_investigational" not in html and item.case.case_number in html
    no_inline_code(html)
    queue = browser(nurse).get("/queue/retro/").content.decode()
    assert f"/queue/retro/{item.pk}/" in queue
    no_inline_code(queue)


@pytest.mark.parametrize("persona", ["integration_client", "outsider", "editor"])
def test_clients_and_outsiders_see_nothing(request, item, persona):
    client = browser(request.getfixturevalue(persona))
    for url in ("/queue/retro/", f"/queue/retro/{item.pk}/"):
        response = client.get(url)
        assert response.status_code == 403
        assert item.case.case_number.encode() not in response.content
    assert client.post(f"/queue/retro/{item.pk}/claim").status_code == 403
    assert RetroReviewItem.objects.get(pk=item.pk).status == RetroItemStatus.OPEN


def test_an_unknown_item_is_404(nurse):
    assert browser(nurse).get("/queue/retro/999999/").status_code == 404


def test_a_nurse_claims_and_closes_an_item_when_the_decision_stands(item, nurse):
    client = browser(nurse)
    assert client.post(f"/queue/retro/{item.pk}/claim").status_code == 302
    item.refresh_from_db()
    assert (item.status, item.assignee) == (RetroItemStatus.IN_REVIEW, nurse)

    client.post(f"/queue/retro/{item.pk}/resolve", {"note": ""})
    item.refresh_from_db()
    assert item.status == RetroItemStatus.IN_REVIEW, "a closure needs a reason"

    client.post(f"/queue/retro/{item.pk}/resolve", {"note": "Documentation in the file supports it."})
    item.refresh_from_db()
    assert (item.status, item.resolution) == (RetroItemStatus.CLOSED, RetroResolution.DECISION_STANDS)
    assert browser(nurse).get("/queue/retro/").content.decode().count("Review ") == 0


def test_another_reviewer_cannot_act_on_a_claimed_item(item, nurse):
    from casemgmt.kernel.roles import Role
    from tests import factories

    other = factories.user("nora.nurse", Role.NURSE)
    browser(nurse).post(f"/queue/retro/{item.pk}/claim")
    response = browser(other).post(f"/queue/retro/{item.pk}/resolve", {"note": "Fine."}, follow=True)
    assert "claimed by another reviewer" in response.content.decode()
    assert RetroReviewItem.objects.get(pk=item.pk).status == RetroItemStatus.IN_REVIEW


def test_a_referred_item_is_corrected_by_a_new_decision_that_supersedes_the_old(item, nurse, physician):
    original = item.decision
    browser(nurse).post(f"/queue/retro/{item.pk}/refer", {"note": "Investigational on that date: deny."})
    item.refresh_from_db()
    assert item.status == RetroItemStatus.REFERRED

    # A nurse may not record the correction (it is a denial).
    refused = browser(nurse).post(f"/queue/retro/{item.pk}/correct", {"rationale": "x", "outcome_1": "denied"})
    assert refused.status_code == 403
    page = browser(physician).get(f"/queue/retro/{item.pk}/").content.decode()
    assert "Record the corrected decision" in page

    new_version = item.new_citations[0]["policy_version_id"]
    response = browser(physician).post(
        f"/queue/retro/{item.pk}/correct",
        {
            "outcome_1": "denied",
            "reason_1": "Investigational under the policy in effect on the date of service.",
            "citation_versions": [str(new_version)],
            "rationale": "Retrospective review: the service is investigational.",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.resolution) == (RetroItemStatus.CLOSED, RetroResolution.CORRECTED)
    corrected = item.corrected_decision
    assert corrected is not None and corrected.supersedes_id == original.pk
    assert list(corrected.lines.values_list("outcome", flat=True)) == ["denied"]
    assert Decision.objects.get(pk=original.pk).lines.get().outcome == "approved", "the old decision is untouched"
    assert item.case.status == "decided"


def test_the_dashboard_shows_run_progress_to_managers_only(item, manager, nurse):
    html = browser(manager).get("/dashboard/").content.decode()
    assert "Retrospective review runs" in html and "<progress" in html
    no_inline_code(html.split("Retrospective review runs")[1].split("</section>")[0])
    fragment = browser(manager).get(f"/retro/runs/{item.run_id}/progress")
    assert fragment.status_code == 200 and b'value="100"' in fragment.content
    assert browser(nurse).get(f"/retro/runs/{item.run_id}/progress").status_code == 403
    assert browser(nurse).get("/retro/runs/panel").status_code == 403


def test_a_running_runs_progress_polls_with_htmx(library, manager):
    run = services.retro_run_request(
        user=manager,
        request=services.RunRequest(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1)),
    )
    html = browser(manager).get(f"/retro/runs/{run.pk}/progress").content.decode()
    assert f'hx-get="/retro/runs/{run.pk}/progress"' in html and 'hx-trigger="every 2s"' in html
    assert '<progress max="100" value="0"' in html


def test_a_nurse_cannot_close_an_item_referred_to_a_physician(item, nurse, physician):
    browser(nurse).post(f"/queue/retro/{item.pk}/refer", {"note": "Please review."})
    assert browser(nurse).post(f"/queue/retro/{item.pk}/resolve", {"note": "Fine."}).status_code == 403
    assert RetroReviewItem.objects.get(pk=item.pk).status == RetroItemStatus.REFERRED
    browser(physician).post(f"/queue/retro/{item.pk}/resolve", {"note": "The documentation supports it."})
    assert RetroReviewItem.objects.get(pk=item.pk).resolution == RetroResolution.DECISION_STANDS
