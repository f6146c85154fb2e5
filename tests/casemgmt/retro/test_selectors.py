"""Which cases each trigger selects: the nightly window and sample, a policy's cases on demand."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from casemgmt.kernel.errors import PermissionDeniedError, ValidationFailed
from casemgmt.retro import selectors, services
from casemgmt.retro.models import RetroRun, RetroSchedule, RetroTrigger
from tests.casemgmt.retro.conftest import days_ago, decided_case

pytestmark = pytest.mark.django_db

TOMORROW = timezone.localdate() + timedelta(days=1)


def configure(percent: str, first_run_days: int = 7) -> None:
    RetroSchedule.objects.update_or_create(
        pk=1, defaults={"sample_percent": Decimal(percent), "first_run_days": first_run_days}
    )


def test_the_first_night_looks_back_first_run_days_and_each_later_night_covers_only_the_new_days():
    assert services.nightly_window(date(2026, 3, 10), None, 7) == (date(2026, 3, 3), date(2026, 3, 9))
    assert services.nightly_window(date(2026, 3, 11), date(2026, 3, 9), 7) == (date(2026, 3, 10), date(2026, 3, 10))
    # Two nights missed: the next run catches up on them, and no further back than first_run_days.
    assert services.nightly_window(date(2026, 3, 14), date(2026, 3, 10), 7) == (date(2026, 3, 11), date(2026, 3, 13))
    assert services.nightly_window(date(2026, 4, 30), date(2026, 3, 10), 7) == (date(2026, 4, 23), date(2026, 4, 29))
    assert services.nightly_window(date(2026, 3, 11), date(2026, 3, 10), 7) is None  # already covered


def test_beat_firing_twice_in_one_night_queues_one_run(library):
    configure("5")
    first = services.retro_run_nightly(today=TOMORROW)
    second = services.retro_run_nightly(today=TOMORROW)
    assert first is not None and second is not None and first.pk == second.pk
    assert RetroRun.objects.filter(trigger=RetroTrigger.SCHEDULED).count() == 1
    assert (first.date_from, first.date_to, first.sample_percent) == (
        TOMORROW - timedelta(days=7),
        TOMORROW - timedelta(days=1),
        Decimal("5.00"),
    )


def test_a_disabled_schedule_queues_nothing(library):
    RetroSchedule.objects.update_or_create(pk=1, defaults={"enabled": False})
    assert services.retro_run_nightly(today=TOMORROW) is None
    assert not RetroRun.objects.exists() or not RetroRun.objects.filter(trigger=RetroTrigger.SCHEDULED).exists()


def test_nightly_selects_every_rendered_case_under_a_retro_policy_and_none_else_at_zero_percent(
    library, nurse, integration_client
):
    configure("0")
    under_retro_policy = decided_case(integration_client, nurse, code="22840", dos=days_ago(5))
    decided_case(integration_client, nurse, code="62330", dos=days_ago(5))  # not a retro policy
    decided_case(integration_client, nurse, code="22840", dos=days_ago(-10))  # not rendered yet
    run = services.retro_run_nightly(today=TOMORROW)
    assert run is not None
    assert selectors.select_nightly(run) == {under_retro_policy.pk}


def test_nightly_samples_the_other_cases_reproducibly(library, nurse, integration_client):
    configure("30")
    others = {decided_case(integration_client, nurse, code="62330", dos=days_ago(5)).pk for _ in range(30)}
    run = services.retro_run_nightly(today=TOMORROW)
    assert run is not None
    sampled = selectors.select_nightly(run)
    assert sampled < others and 0 < len(sampled) < 30
    assert selectors.select_nightly(run) == sampled  # same seed, same sample
    assert selectors.sample(others, run.seed, Decimal(30)) == sampled
    assert selectors.sample(others, run.seed, Decimal(100)) == others
    assert selectors.sample(others, run.seed, Decimal(0)) == set()


def test_a_case_reviewed_one_night_is_not_selected_the_next(library, nurse, integration_client):
    configure("100")
    decided_case(integration_client, nurse, code="22840", dos=days_ago(5))
    tonight = services.retro_run_nightly(today=TOMORROW)
    assert tonight is not None and len(selectors.select_nightly(tonight)) == 1
    next_night = services.retro_run_nightly(today=TOMORROW + timedelta(days=1))
    assert next_night is not None and next_night.pk != tonight.pk
    assert selectors.select_nightly(next_night) == set()


def test_on_demand_selects_the_policys_cases_in_the_window_and_line_of_business(library, nurse, integration_client):
    inside = decided_case(integration_client, nurse, code="62330", dos=days_ago(30))
    decided_case(integration_client, nurse, code="62330", dos=days_ago(90))  # before the window
    decided_case(integration_client, nurse, code="22840", dos=days_ago(30))  # another policy
    medicaid = decided_case(integration_client, nurse, code="62330", dos=days_ago(30), lob="medicaid")
    ids = selectors.cases_under_policy(policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1))
    assert ids == {inside.pk, medicaid.pk}
    assert selectors.cases_under_policy(
        policy_id=library.a1.policy_id, date_from=days_ago(60), date_to=days_ago(1), line_of_business="commercial"
    ) == {inside.pk}


@pytest.mark.parametrize(("percent", "days"), [("101", 7), ("-1", 7), ("ten", 7), ("5.555", 7), ("5", 0), ("5", 400)])
def test_bad_nightly_settings_are_refused(manager, percent, days):
    with pytest.raises(ValidationFailed) as refused:
        services.retro_schedule_update(user=manager, sample_percent=percent, first_run_days=days)
    assert set(refused.value.errors) <= {"sample_percent", "first_run_days"}
    assert selectors.schedule().sample_percent == Decimal("5.00")


def test_only_a_manager_changes_the_nightly_settings(manager, nurse):
    with pytest.raises(PermissionDeniedError):
        services.retro_schedule_update(user=nurse, sample_percent=Decimal(50), first_run_days=7)
    saved = services.retro_schedule_update(user=manager, sample_percent=Decimal("12.5"), first_run_days=14)
    assert (saved.sample_percent, saved.first_run_days, saved.updated_by) == (Decimal("12.50"), 14, manager)
