"""docs/security.md names the code and the tests behind each claim: every one must exist.

A renamed test or module would otherwise leave the HIPAA table pointing at nothing. (The access
matrix section is checked against casemgmt/security/access_matrix.py by test_permission_matrix.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "security.md"
# `tests/casemgmt/test_x.py::test_name`, `casemgmt/audit/`, `policies_app/selectors.py` (`content_sha256`)
REFERENCE = re.compile(r"`((?:tests|casemgmt|policies_app)/[\w/.-]*)(?:::(\w+))?`")


def references() -> list[tuple[str, str | None]]:
    return [(path, name) for path, name in REFERENCE.findall(DOC.read_text())]


def test_the_doc_names_code_and_tests() -> None:
    found = references()
    assert len({path for path, _ in found if path.startswith("tests/")}) >= 10
    assert len({path for path, _ in found if not path.startswith("tests/")}) >= 10


def test_every_file_and_test_it_names_exists() -> None:
    missing = []
    for path, name in references():
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif name and not re.search(rf"^def {name}\(", target.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/security.md names what does not exist: {sorted(set(missing))}"
