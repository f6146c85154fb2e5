"""Nothing acknowledged is lost or done twice when the broker, the database or a worker fails.

The product runs as deployed (gunicorn with 2 workers, a Celery worker with beat, the outbox
relay) on a PostgreSQL cluster and a Redis (AOF on) of this test's own, on free ports: the
machine's own services are never stopped. An integration client submits cases with an
Idempotency-Key each and retries as the API documents; meanwhile Redis is stopped for 20 s,
PostgreSQL for 8 s, and the worker is SIGKILLed in the middle of a retrospective run (and started
again, as a supervisor would). The timeline is in tests/reliability/faults/scenario.py; the
figures of a run are printed (`-s` shows them) and written up in docs/reliability.md.

The drill runs once for the module; each test checks one property of its outcome. It is a
`services` test: it runs in CI's second pass (DATABASE_URL, CELERY_BROKER_URL, CI=true) and
skips elsewhere (fails under CI) when the services or the programs it needs are missing.
"""

from __future__ import annotations

import pytest

from tests.reliability.faults import scenario
from tests.reliability.faults.lab import find_tools
from tests.services_fixtures import unavailable

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def drill() -> scenario.Outcome:
    tools = find_tools()
    if isinstance(tools, str):
        unavailable(f"the fault drill needs its own PostgreSQL and Redis: {tools}")
    outcome = scenario.Drill(tools).run()
    print("\n" + scenario.figures(outcome))
    return outcome


def _report(outcome: scenario.Outcome, problems: list[str], limit: int = 25) -> str:
    shown = "\n".join(problems[:limit])
    more = f"\n... and {len(problems) - limit} more" if len(problems) > limit else ""
    return f"{len(problems)} problem(s):\n{shown}{more}\n\n{scenario.figures(outcome)}"


def test_every_acknowledged_case_is_stored_exactly_once(drill: scenario.Outcome) -> None:
    problems = scenario.cases_problems(drill)
    assert drill.acknowledged, "the drill acknowledged no case at all"
    assert not problems, _report(drill, problems)


def test_every_retry_with_its_idempotency_key_gets_the_first_answer(drill: scenario.Outcome) -> None:
    problems = scenario.retry_problems(drill)
    assert drill.resends, "no request was resent with its key"
    assert not problems, _report(drill, problems)


def test_every_acknowledged_case_is_notified_exactly_once(drill: scenario.Outcome) -> None:
    problems = scenario.delivery_problems(drill)
    assert not problems, _report(drill, problems)


def test_no_request_gets_a_5xx_but_the_documented_503(drill: scenario.Outcome) -> None:
    assert not drill.client_problems, _report(drill, drill.client_problems)


def test_the_retrospective_run_evaluates_each_case_once(drill: scenario.Outcome) -> None:
    problems = scenario.retro_problems(drill)
    assert not problems, _report(drill, problems)
