"""Intake's remembered facts (PostgreSQL): a submission reuses what the process read for the
last one, and the write itself refuses to go through on any fact that has since changed.

On PostgreSQL intake takes the deadline rules, the library stamp, the client's roles and
whether it has webhooks from the process's memory (selectors.intake_facts) and writes with a
guard that checks every one of them in the same statement. Each test here changes one fact
between two submissions of one client and shows the second case follows the change. They skip
on SQLite with the reason (it reads the facts on every submission) and fail under CI=true.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext

from casemgmt.cases import selectors
from casemgmt.cases.models import Case, DeadlineRule, WebhookDelivery
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (only its write checks remembered facts)")


def _submit(client, external_id: str, **overrides) -> Case:
    return factories.case(client, external_id=external_id, **overrides)


def test_second_submission_reads_nothing_before_its_write(integration_client):
    _submit(integration_client, "EHR-1")

    with CaptureQueriesContext(connection) as queries:
        _submit(integration_client, "EHR-2")

    writes = [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert len(writes) == 1 and writes[0].startswith("WITH c AS (INSERT"), writes


def test_deadline_rule_changed_after_it_was_remembered_governs_the_next_case(integration_client):
    _submit(integration_client, "EHR-1")
    DeadlineRule.objects.filter(review_type="prospective", urgency="standard", line_of_business="").update(hours=100)

    case = _submit(integration_client, "EHR-2")

    assert case.due_at - case.received_at == timedelta(hours=100)
    assert Case.objects.get(pk=case.pk).deadline_rule.hours == 100


def test_more_specific_rule_added_after_it_was_remembered_governs_the_next_case(integration_client):
    _submit(integration_client, "EHR-1")
    rule = DeadlineRule.objects.create(
        review_type="prospective", urgency="standard", line_of_business="commercial", hours=50, source="plan contract"
    )

    case = _submit(integration_client, "EHR-2")

    assert case.deadline_rule_id == rule.pk
    assert case.due_at - case.received_at == timedelta(hours=50)


def test_policy_published_after_the_library_was_remembered_flags_the_next_case(integration_client, editor):
    _submit(integration_client, "EHR-1")
    factories.publish(factories.draft_version(), editor)

    case = _submit(integration_client, "EHR-2")

    version = PolicyVersion.objects.get()
    stored = Case.objects.get(pk=case.pk).flags.get(service_line__sequence=1)
    assert stored.policy_version_id == version.pk
    assert stored.kind == "investigational"


def test_role_removed_after_it_was_remembered_refuses_the_next_submission(integration_client):
    _submit(integration_client, "EHR-1")
    integration_client.groups.remove(Group.objects.get(name=Role.INTEGRATION_CLIENT))
    # A new request carries a new user object; the roles held on the old one are gone with it.
    client = type(integration_client).objects.get(pk=integration_client.pk)

    with pytest.raises(PermissionDeniedError):
        _submit(client, "EHR-2")

    assert Case.objects.filter(external_id="EHR-2").count() == 0


def test_role_granted_after_a_refusal_is_honoured_at_once(outsider):
    with pytest.raises(PermissionDeniedError):
        _submit(outsider, "EHR-1")
    outsider.groups.add(Group.objects.get(name=Role.INTEGRATION_CLIENT))
    client = type(outsider).objects.get(pk=outsider.pk)

    case = _submit(client, "EHR-1")

    assert case.submitted_by_id == outsider.pk


def test_webhook_registered_after_the_client_was_remembered_is_notified_of_the_next_case(integration_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True  # no DNS here: the address is not checked
    _submit(integration_client, "EHR-1")
    webhook_subscribe(client=integration_client, url="https://hooks.example.org/pa")

    case = _submit(integration_client, "EHR-2")

    assert WebhookDelivery.objects.filter(event__case=case).exists()


def test_facts_read_afresh_are_remembered_for_the_next_submission(integration_client):
    _submit(integration_client, "EHR-1")
    key = (integration_client.pk, "prospective", "standard", "commercial")

    remembered = selectors._remembered_facts[key]

    assert remembered.remembered
    assert remembered.client_roles != 0
    assert remembered.rules_digest
