"""`manage.py import_policy FILE... [--dry-run] [--json] [--payer NAME]`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import call_command
from django.core.management.base import CommandError

from policies_app.models import Policy, PolicyVersion
from tests.policies_app.importing.conftest import CORPUS, make_pdf


def run(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("import_policy", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_json_prints_each_document_in_the_documented_shape(editor):
    output, code = run(str(CORPUS / "uni-01-spinal-cord-stimulation.html"), "--json")
    (document,) = json.loads(output)
    assert code == 0
    assert {"file", "layout", "fields", "criteria", "needs_review", "errors", "status", "version_id"} <= set(document)
    assert document["status"] == "created" and document["layout"] == "html"
    assert document["fields"]["number"] == {
        "value": "2025T0311C",
        "source": {
            "start": document["fields"]["number"]["source"]["start"],
            "end": document["fields"]["number"]["source"]["end"],
            "text": "2025T0311C",
        },
        "confidence": 0.95,
    }


def test_dry_run_writes_nothing(editor):
    output, code = run(
        str(CORPUS / "nat-01-si-joint-fusion.txt"), str(CORPUS / "lcd-01-facet-joint-interventions.html"), "--dry-run"
    )
    assert code == 0
    assert (Policy.objects.count(), PolicyVersion.objects.count()) == (0, 0)
    assert output.count("read      ") == 2


def test_dry_run_json_reports_status_dry_run(editor):
    output, _ = run(str(CORPUS / "nat-01-si-joint-fusion.txt"), "--dry-run", "--json")
    assert json.loads(output)[0]["status"] == "dry-run"
    assert PolicyVersion.objects.count() == 0


def test_a_bad_file_is_reported_by_name_and_the_others_still_import(editor, tmp_path: Path):
    scanned = tmp_path / "scanned.pdf"
    scanned.write_bytes(make_pdf([]))
    good = str(CORPUS / "mcd-02-scoliosis-surgery.html")
    output, code = run(str(scanned), good)
    lines = output.splitlines()
    assert code == 1
    assert (
        lines[0]
        == f"refused   {scanned}: the PDF has no text layer (a scanned image?); import a text PDF, or paste the policy's text"
    )
    assert lines[1].startswith(f"created   {good}: Evergreen Community Health Plan policy EV.CP.MP.305")
    assert PolicyVersion.objects.count() == 1


def test_a_missing_file_is_refused_with_the_reason(editor, tmp_path: Path):
    output, code = run(str(tmp_path / "absent.txt"))
    assert code == 1 and output.startswith(f"refused   {tmp_path / 'absent.txt'}: cannot read the file")


def test_payer_option_names_the_payer_of_a_document_that_does_not(editor, tmp_path: Path):
    path = tmp_path / "policy.txt"
    path.write_text(
        (CORPUS / "banner-02-peripheral-nerve-stimulation.txt").read_text().replace("Northstar Blue Cross ", "")
    )
    _, code = run(str(path), "--payer", "Given Plan")
    assert code == 0 and Policy.objects.get().payer == "Given Plan"


def test_json_of_a_refused_file_carries_its_reason(editor, tmp_path: Path):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    output, code = run(str(empty), "--json")
    (document,) = json.loads(output)
    assert code == 1 and (document["status"], document["errors"]) == ("refused", ["the file is empty"])


def test_an_unmigrated_database_is_named_as_the_reason_and_nothing_is_read(tmp_path: Path):
    document = tmp_path / "policy.txt"
    document.write_text("Medical Policy 01.02.03\nEffective Date: 01/01/2026\n", encoding="utf-8")
    environment = {**os.environ, "DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}"}
    environment.pop("CELERY_BROKER_URL", None)

    finished = subprocess.run(
        [sys.executable, "manage.py", "import_policy", "--dry-run", str(document)],
        cwd=Path(__file__).resolve().parents[3],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert finished.returncode == 1
    assert "run `manage.py migrate` first" in finished.stderr
    assert "Traceback" not in finished.stderr
