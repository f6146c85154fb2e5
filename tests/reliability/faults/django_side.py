"""What the fault suite does inside Django, against its own database, in a subprocess:

    python -m tests.reliability.faults.django_side seed SETTINGS_JSON
    python -m tests.reliability.faults.django_side probe SETTINGS_JSON

The environment (DATABASE_URL and the rest) points Django at the suite's cluster. The answer is
one line of JSON on standard output; Django's log goes to standard error. Data is made through
the product's services, as the test factories make it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from datetime import timedelta
from typing import Any

PROCEDURE = ("CPT", "62330")
DECIDED_DAYS_AGO = 50


def seed(options: dict[str, Any]) -> dict[str, Any]:
    """Accounts and tokens, a one-policy library, decided cases for the retrospective run, the
    client's webhook, and beat's interval tasks brought down to `beat_seconds` (a drill setting,
    as a manager may set in the admin, so sweepers run within the suite's few minutes)."""
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
    from casemgmt.cases.services.intake import LineInput
    from casemgmt.cases.services.webhooks import webhook_subscribe
    from casemgmt.kernel.roles import Role
    from casemgmt.security.services import api_token_create
    from tests import factories

    today = timezone.localdate()
    client = factories.user("fault.client", Role.INTEGRATION_CLIENT)
    manager = factories.user("fault.manager", Role.MANAGER)
    nurse = factories.user("fault.nurse", Role.NURSE)
    editor = factories.user("fault.editor", Role.POLICY_EDITOR, staff=True)
    policy = factories.policy(number="FLT.01", title="Fault drill procedure")
    version = factories.publish(
        factories.draft_version(
            policy,
            version_label="F1",
            coverage_position="medically_necessary",
            statement="The drill procedure is medically necessary.",
            effective_start=today - timedelta(days=500),
            codes=[(PROCEDURE[0], PROCEDURE[1], "")],
        ),
        editor,
    )
    dos = today - timedelta(days=DECIDED_DAYS_AGO)
    decided = []
    for _ in range(int(options["decided_cases"])):
        case = factories.case(
            client,
            review_type="retrospective",
            service_lines=(LineInput(code_system=PROCEDURE[0], code=PROCEDURE[1], units=2, date_of_service=dos),),
        )
        decision_record(
            case_id=case.pk,
            user=nurse,
            lines=[DecisionLineInput(service_line=1, outcome="approved")],
            citations=[CitationInput(policy_version_id=version.pk)],
            rationale="Reviewed.",
        )
        decided.append(case.pk)
    # After the decided cases: their notifications are not the drill's.
    _, secret = webhook_subscribe(client=client, url=options["receiver_url"])
    every, _ = IntervalSchedule.objects.get_or_create(
        every=int(options["beat_seconds"]), period=IntervalSchedule.SECONDS
    )
    shortened = sorted(PeriodicTask.objects.filter(interval__isnull=False).values_list("name", flat=True))
    PeriodicTask.objects.filter(interval__isnull=False).update(interval=every)
    return {
        "client_token": api_token_create(user=client, label="fault drill")[1],
        "manager_token": api_token_create(user=manager, label="fault drill")[1],
        "webhook_secret": secret,
        "policy_id": policy.pk,
        "procedure": list(PROCEDURE),
        "retro_from": (dos - timedelta(days=5)).isoformat(),
        "retro_to": (dos + timedelta(days=5)).isoformat(),
        "decided_case_ids": decided,
        "beat_tasks_shortened": shortened,
    }


def probe(options: dict[str, Any]) -> dict[str, Any]:
    """The database's side of the story: the drill's cases, their notifications, the run."""
    from casemgmt.cases.models import Case, WebhookDelivery
    from casemgmt.retro.models import RetroChunk, RetroResult, RetroRun

    prefix = options["external_id_prefix"]
    cases: dict[str, list[str]] = defaultdict(list)
    for external_id, case_number in Case.objects.filter(external_id__startswith=prefix).values_list(
        "external_id", "case_number"
    ):
        cases[external_id].append(case_number)
    deliveries: dict[str, list[Any]] = defaultdict(list)
    for case_number, kind, status, attempts, error in WebhookDelivery.objects.filter(
        event__case__external_id__startswith=prefix
    ).values_list("event__case__case_number", "event__kind", "status", "attempts", "last_error"):
        deliveries[f"{case_number} {kind}"].append({"status": status, "attempts": attempts, "last_error": error})
    run_state: dict[str, Any] | None = None
    run_id = options.get("run_id")
    if run_id:
        run = RetroRun.objects.get(pk=run_id)
        results = list(RetroResult.objects.filter(run=run).values_list("case_id", "outcome"))
        run_state = {
            "status": run.status,
            "selected": run.selected,
            "evaluated": run.evaluated,
            "failed": run.failed,
            "chunk_count": run.chunk_count,
            "chunks_done": run.chunks_done,
            "result_case_ids": [case_id for case_id, _ in results],
            "result_outcomes": sorted({outcome for _, outcome in results}),
            "chunk_attempts": list(
                RetroChunk.objects.filter(run=run).order_by("sequence").values_list("attempts", flat=True)
            ),
        }
    return {"cases": cases, "deliveries": deliveries, "run": run_state}


def main(argv: list[str]) -> int:
    import django

    django.setup()
    command, options = argv[1], json.loads(argv[2])
    answer = {"seed": seed, "probe": probe}[command](options)
    sys.stdout.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
