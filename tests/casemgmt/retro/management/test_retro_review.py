"""manage.py retro_review: starts an on-demand run and prints a progress bar until it finishes."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from casemgmt.retro.models import RetroOrigin, RetroRun, RetroRunStatus
from tests.casemgmt.retro.conftest import days_ago, decided_case, publish_replacements

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_the_command_runs_a_review_in_process_and_prints_its_progress(library, editor, nurse, integration_client):
    decided_case(integration_client, nurse, code="62330", dos=days_ago(50))
    decided_case(integration_client, nurse, code="62330", dos=days_ago(300))
    publish_replacements(library, editor)
    out = StringIO()

    call_command(
        "retro_review", "--policy", "RA.01", "--from", str(days_ago(400)), "--to", str(days_ago(1)), stdout=out
    )

    run = RetroRun.objects.get(requested_via=RetroOrigin.COMMAND)
    assert (run.status, run.selected, run.evaluated, run.discrepancies) == (RetroRunStatus.COMPLETED, 2, 2, 1)
    text = out.getvalue()
    assert "[########################################] 100%" in text
    assert "2/2 cases, 1 discrepancies" in text
    assert f"run {run.pk} completed" in text


def test_the_command_takes_a_policy_id_and_a_sample(library):
    call_command(
        "retro_review",
        "--policy",
        str(library.b1.policy_id),
        "--from",
        str(days_ago(30)),
        "--to",
        str(days_ago(1)),
        "--line-of-business",
        "commercial",
        "--sample-percent",
        "12.5",
        stdout=StringIO(),
    )
    run = RetroRun.objects.get(requested_via=RetroOrigin.COMMAND)
    assert (run.policy_id, str(run.sample_percent), run.line_of_business) == (
        library.b1.policy_id,
        "12.50",
        "commercial",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "NOPE.1"], "--policy: no policy"),
        (["--from", "2025-02-30"], "--from: '2025-02-30' is not a date"),
        (["--to", "2020-01-01"], "--to: must not be before date_from"),
        (["--line-of-business", "medicare_part_z"], "--line-of-business:"),
        (["--sample-percent", "0"], "--sample-percent: must be a percentage"),
        (["--sample-percent", "lots"], "--sample-percent: 'lots' is not a number"),
    ],
)
def test_bad_parameters_are_a_command_error_naming_the_option(library, args, message):
    values = {"--policy": "RA.01", "--from": "2025-01-01", "--to": "2025-06-30"}
    extra = []
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in values:
            values[flag] = value
        else:
            extra += [flag, value]
    argv = [x for pair in values.items() for x in pair] + extra
    with pytest.raises(CommandError, match=message.replace("[", r"\[")):
        call_command("retro_review", *argv, stdout=StringIO())
    assert not RetroRun.objects.filter(requested_via=RetroOrigin.COMMAND).exists()
