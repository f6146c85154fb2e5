"""One request from intake to a cited decision, through the real API and the real pages; and the
commands the README gives a newcomer, run as written."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from casemgmt.cases.models import Case, Citation
from casemgmt.security.services import api_token_create
from policies_app.demo.seed_policies import WELLMARK_07_01_89
from policies_app.models import PolicyVersion
from policies_app.services import policy_seed
from tests import factories

pytestmark = pytest.mark.django_db


def test_request_flows_from_intake_to_cited_denial(integration_client, nurse, physician, editor):
    version = policy_seed(data=WELLMARK_07_01_89, user=editor, publisher=factories.second_editor())
    _, token = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    submitted = api.post("/api/v1/cases", factories.api_case_body(), format="json")
    assert submitted.status_code == 201
    case_number = submitted.json()["case_number"]
    assert submitted.json()["flags"][0]["citation"]["policy_number"] == "07.01.89"

    nurse_browser = Client()
    nurse_browser.force_login(nurse)
    assert case_number in nurse_browser.get("/queue/").content.decode()
    page = nurse_browser.get(f"/cases/{case_number}/").content.decode()
    assert "Investigational service per policy 07.01.89 (version 2023-07" in page
    nurse_browser.post(f"/cases/{case_number}/refer", {"summary": "Investigational per 07.01.89."})

    doctor = Client()
    doctor.force_login(physician)
    case = Case.objects.get(case_number=case_number)
    doctor.post(
        f"/cases/{case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Image-guided minimally invasive lumbar decompression is investigational under policy 07.01.89.",
            "citation_versions": [version.pk],
            "criterion": "Image-guided minimally invasive spinal decompression is considered investigational.",
            "row_version": case.row_version,
        },
    )

    decisions = api.get(f"/api/v1/cases/{case_number}/decisions").json()
    assert decisions[0]["lines"][0]["outcome"] == "denied"
    citation = decisions[0]["citations"][0]
    assert (citation["policy_number"], citation["version"], citation["effective_start"]) == (
        "07.01.89",
        "2023-07",
        "2023-07-01",
    )
    assert api.get(f"/api/v1/cases/{case_number}").json()["status"] == "decided"

    # A later edition closes the old one; the decision still says what it rested on then.
    successor = factories.draft_version(
        version.policy, version_label="2027-01", effective_start=date(2027, 1, 1), coverage_position="investigational"
    )
    factories.publish(successor, editor)
    assert PolicyVersion.objects.get(pk=version.pk).effective_end == date(2026, 12, 31)
    assert Citation.objects.get().effective_end is None


def test_load_demo_is_idempotent(db, capsys):
    call_command("load_demo")
    counts = (Case.objects.count(), PolicyVersion.objects.count())
    call_command("load_demo")
    # Five cases of the seed policies; four facet denervation cases and one appeal per line of
    # business; two answered at intake (an office visit, an automatic approval); the lumbar fusion
    # policy's story of every state (casemgmt/demo/story.py), with its appeal and its reopening.
    assert (Case.objects.count(), PolicyVersion.objects.count()) == counts == (52, 4)
    assert "nurse" in capsys.readouterr().out


def test_load_demo_names_the_address_it_is_told_the_app_is_served_on(db, capsys):
    call_command("load_demo", url="http://127.0.0.1:8011/")
    assert "Sign in at http://127.0.0.1:8011/ with one of these" in capsys.readouterr().out


# --- the README's commands, as a newcomer types them ------------------------------------------

REPO = Path(__file__).resolve().parent.parent
COMMAND_IN_README = re.compile(r"DEBUG=1 \.venv/bin/python manage\.py [^`\n]+")


def readme_commands() -> list[str]:
    return sorted(set(COMMAND_IN_README.findall((REPO / "README.md").read_text())))


@dataclass(frozen=True)
class Shell:
    """A terminal on a fresh development checkout: no SECRET_KEY, DEBUG or service URL set."""

    env: dict[str, str]

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], cwd=REPO, env=self.env, capture_output=True, text=True, timeout=300
        )


@pytest.fixture(scope="module")
def demo_shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Shell, str]]:
    """A shell whose own SQLite database is migrated and has the demo loaded, as `make run` does."""
    home = tmp_path_factory.mktemp("newcomer")
    shell = Shell(
        {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "SQLITE_PATH": str(home / "db.sqlite3"),
            "MEDIA_ROOT": str(home / "media"),
        }
    )
    migrated = shell.run("DEBUG=1 .venv/bin/python manage.py migrate --no-input")
    assert migrated.returncode == 0, migrated.stderr
    loaded = shell.run("DEBUG=1 .venv/bin/python manage.py load_demo")
    assert loaded.returncode == 0, loaded.stderr
    yield shell, loaded.stdout + loaded.stderr


def test_the_readme_gives_manage_py_commands():
    assert any("create_api_token portal" in command for command in readme_commands())


@pytest.mark.parametrize("command", readme_commands(), ids=lambda command: command.split()[3])
def test_a_readme_command_runs_as_written_on_the_development_default(demo_shell, command):
    shell, _ = demo_shell
    result = shell.run(command)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ImproperlyConfigured" not in result.stderr
    if "create_api_token" in command:
        assert result.stdout.startswith("pa_")


def test_a_command_needs_debug_or_a_secret_key_to_start(demo_shell):
    shell, _ = demo_shell
    result = shell.run(".venv/bin/python manage.py create_api_token portal")
    assert result.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) must be set unless DEBUG is on" in result.stderr


def test_load_demo_names_no_broker_when_tasks_run_in_process(demo_shell):
    _, output = demo_shell
    assert "kombu" not in output and "No hostname was supplied" not in output


def test_the_token_command_load_demo_prints_is_the_readme_s(demo_shell):
    _, output = demo_shell
    command = re.search(r"^API token for portal: (.+)$", output, re.M)
    assert command is not None and command.group(1) in readme_commands()


def test_make_run_serves_on_the_port_it_is_given():
    dry_run = subprocess.run(
        ["make", "-n", "run", "PORT=8011"], cwd=REPO, capture_output=True, text=True, check=True, timeout=60
    )
    assert "load_demo --url http://127.0.0.1:8011/" in dry_run.stdout
    assert "runserver 127.0.0.1:8011" in dry_run.stdout
