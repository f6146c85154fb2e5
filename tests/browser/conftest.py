"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live server.

The browser is Debian's /usr/bin/chromium (`make browsers` installs it); Playwright never
downloads one. Without it these tests skip with the reason, except under CI=true, where a
missing browser is a failure: CI must not go green by skipping them.

Data: the live server reads committed rows, so the tests run in transactional databases
(`@pytest.mark.django_db(transaction=True, serialized_rollback=True)`: the serialized rollback
restores the migrations' reference data, roles, deadline rules and the fact catalogue, which the
flush after each transactional test removes). Everything is built through the product's own
services: the roles' permissions, the two seed policies published by an editor, the demo users
and cases submitted by the portal client.

Each test leaves a full-page screenshot of where it ended in tests/artifacts/<test name>.png
(ignored by git), for CI to keep as an artifact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db.backends.base.base import BaseDatabaseWrapper
from playwright.sync_api import Browser, Page, expect, sync_playwright

from casemgmt.cases.models import Case, LineOutcome
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import case_submit
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.kernel.roles import Role
from casemgmt.security.services import demo_user_ensure, roles_sync_permissions
from policies_app.demo.seed_policies import SEED_POLICIES
from policies_app.models import PolicyVersion
from policies_app.services import policy_seed
from tests import factories
from tests.services_fixtures import unavailable

# Playwright's sync API keeps an asyncio event loop in the main thread, and Django refuses ORM
# calls from a thread with a running loop. The tests' ORM calls are plain synchronous code run
# between browser steps, so the guard is lifted for the test session that includes these tests.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PASSWORD = "browser-test-pass-4821"
# Generous for a loaded CI machine; a passing step takes a fraction of this.
TIMEOUT_MS = 15_000

# The demo users of `load_demo`, with the same names a reviewer sees on the pages.
USERS: dict[str, tuple[Role, str]] = {
    "nurse": (Role.NURSE, "Nora Reyes"),
    "physician": (Role.PHYSICIAN, "Dr. Paul Okafor"),
    "manager": (Role.MANAGER, "Maria Chen"),
    "editor": (Role.POLICY_EDITOR, "Edith Lund"),
    "editor2": (Role.POLICY_EDITOR, "Eli Brandt"),
    "portal": (Role.INTEGRATION_CLIENT, "Provider Portal"),
}
# The seed policy that governs CPT 62330 for commercial members (investigational).
MILD_POLICY_NUMBER = "07.01.89"

_screenshots: list[Path] = []

expect.set_options(timeout=TIMEOUT_MS)


def _keep_django_connections(before: dict[str, BaseDatabaseWrapper]) -> None:
    """Keep the main thread on the Django connections it had before Playwright started.

    Playwright's sync API leaves an asyncio loop marked as running in the main thread, and
    Django keeps connections in an asgiref thread-critical Local, which switches to a separate,
    context-local storage whenever a loop is running. Without this the tests would get fresh
    connection objects, and pytest-django's serialized rollback, which keeps the migrations'
    reference data on the connection made when the test database was set up, would find none
    once a non-browser test had run first: every transactional test after the first would then
    start from an empty database (no roles, deadline rules or fact catalogue).
    """
    from django.db import connections

    for alias, conn in before.items():
        connections[alias] = conn  # with the loop running, this fills the context-local storage
    assert all(connections[alias] is conn for alias, conn in before.items()), "Django connections differ"


@pytest.fixture(scope="session")
def browser(django_db_setup: None) -> Iterator[Browser]:
    """One headless Debian Chromium for the session; each test gets its own context.

    Started after the test database is set up, so the connections that carry its serialized
    contents exist before Playwright's loop does.
    """
    from django.db import connections

    if not CHROMIUM.exists():
        unavailable(f"browser tests need Debian's Chromium at {CHROMIUM} (install it with `make browsers`)")
    before = {alias: connections[alias] for alias in connections}
    driver = sync_playwright().start()
    try:
        _keep_django_connections(before)
        launched = driver.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        driver.stop()


@dataclass
class Workspace:
    """The reviewer workspace's data, built through the services, and the live server's address."""

    url: str
    users: dict[str, User]
    versions: dict[str, PolicyVersion]
    cases: list[Case] = field(default_factory=list)

    @property
    def mild_policy(self) -> PolicyVersion:
        return self.versions[MILD_POLICY_NUMBER]

    def submit(self, **overrides: Any) -> Case:
        """A case as the portal client submits it (by default CPT 62330, commercial: flagged investigational)."""
        case = case_submit(client=self.users["portal"], data=factories.case_input(**overrides))
        self.cases.append(case)
        return case

    def refer(self, case: Case, summary: str = "Investigational per policy; please review.") -> None:
        case_refer_to_physician(case_id=case.pk, user=self.users["nurse"], summary=summary)

    def approve(self, case: Case) -> None:
        decision_record(
            case_id=case.pk,
            user=self.users["nurse"],
            lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
            citations=[],
        )

    def deny(self, case: Case, reason: str) -> int:
        decision = decision_record(
            case_id=case.pk,
            user=self.users["physician"],
            lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.DENIED, reason=reason)],
            citations=[CitationInput(policy_version_id=self.mild_policy.pk, criterion="")],
            rationale="Investigational per the cited policy.",
        )
        return decision.pk


@pytest.fixture
def workspace(live_server: Any) -> Workspace:
    """Roles, the seed policies, the demo users (password PASSWORD); cases come from `submit`."""
    roles_sync_permissions()
    users = {
        username: demo_user_ensure(username=username, role=role, password=PASSWORD, full_name=name)
        for username, (role, name) in USERS.items()
    }
    versions = {
        data["number"]: policy_seed(data=data, user=users["editor"], publisher=users["editor2"])
        for data in SEED_POLICIES
    }
    return Workspace(url=live_server.url, users=users, versions=versions)


def _artifact_name(node_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", node_name).strip("_") or "test"


@pytest.fixture
def page(browser: Browser, workspace: Workspace, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context on the live server; leaves tests/artifacts/<test name>.png behind."""
    context = browser.new_context(base_url=workspace.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / f"{_artifact_name(request.node.name)}.png"
        try:
            tab.screenshot(path=str(shot), full_page=True)
            _screenshots.append(shot)
        finally:
            context.close()
    # A script error on a page (htmx included) fails the test even when its assertions passed.
    assert not errors, f"JavaScript errors on the page: {errors}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _screenshots:
        terminalreporter.write_sep("-", "browser test screenshots")
        terminalreporter.write_line(f"{len(_screenshots)} screenshot(s) in {ARTIFACTS}")
