"""People see labels, never raw codes: every page of the demo, for every role, in words.

The demo is loaded once for the module (rolled back at the end). Each role signs in and opens
every page of its kind; the visible text (tags stripped; <code>, <pre>, <script>, <style> and
<textarea> left out: machine notation and what people typed) must hold no stored choice value
and no snake_case name.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.db.models import TextChoices
from django.test import Client, RequestFactory, TestCase
from django.urls import reverse

from tests.services_fixtures import eager_tasks

pytestmark = pytest.mark.django_db

ROLES = ("nurse", "physician", "manager", "editor", "auditor")

# snake_case that people may legitimately see: none yet. Add a word here only with the reason.
ALLOWED: frozenset[str] = frozenset()

# Not part of a path, an address or a dotted name (a task's module path): those are machine notation.
SNAKE_CASE = re.compile(r"(?<![\w./:-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/-])(?!\.\w)")
HIDDEN_TAGS = {"code", "pre", "script", "style", "textarea", "kbd", "samp"}
# Cases and pages the walk opens per role (a few of each kind is every template and branch the
# demo shows; all of them would only repeat those).
MAX_AUDIT_ROWS = 40


def _text_choices() -> list[type[TextChoices]]:
    """Every TextChoices class of the project (its models, roles and service modules)."""
    for module in ("casemgmt.kernel.roles", "casemgmt.cases.services.notes"):
        import_module(module)
    found: list[type[TextChoices]] = []
    pending = list(TextChoices.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls.__module__.startswith(("casemgmt", "policies_app")):
            found.append(cls)
    return found


def raw_values() -> tuple[frozenset[str], frozenset[str]]:
    """(values with an underscore, bare lowercase values): stored codes people must not see."""
    snake, bare = set(), set()
    for cls in _text_choices():
        for value in cls.values:
            value = str(value)
            if "_" in value:
                snake.add(value)
            elif value.islower():
                bare.add(value)
    return frozenset(snake), frozenset(bare)


class VisibleText(HTMLParser):
    """The text a person sees, one string per text node."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.nodes: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_TAGS:
            self.hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_TAGS and self.hidden:
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden and data.strip():
            self.nodes.append(" ".join(data.split()))


def raw_codes_in(html: str, allowed: frozenset[str] = frozenset()) -> set[str]:
    """The raw codes in a page's visible text; `allowed`: words it may show (user names)."""
    snake, bare = raw_values()
    snake, bare = snake - allowed, bare - allowed
    parser = VisibleText()
    parser.feed(html)
    found: set[str] = set()
    for node in parser.nodes:
        for word in SNAKE_CASE.findall(node):
            if word not in ALLOWED and word not in allowed:
                found.add(word)
        found |= {value for value in snake if re.search(rf"(?<![\w-]){re.escape(value)}(?![\w-])", node)}
        # A bare code stands alone in a cell or a list of codes ("commercial, exchange"); in a
        # sentence the same word is English ("3 approved").
        parts = [p.strip() for p in node.split(",")]
        if parts and all(p in bare for p in parts):
            found.add(node)
    return found


# --- the demo, once ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(django_db_setup: None, django_db_blocker: pytest.FixtureRequest) -> Iterator[None]:
    # Tasks run in-process (the retrospective review run's), as on the embedded default, so the
    # walk is the same in both CI passes.
    with django_db_blocker.unblock(), transaction.atomic(), eager_tasks():  # type: ignore[attr-defined]
        with TestCase.captureOnCommitCallbacks(execute=True):
            call_command("load_demo", stdout=io.StringIO())
        yield
        transaction.set_rollback(True)


def browser(username: str) -> Client:
    client = Client()
    client.force_login(User.objects.get(username=username))
    return client


# --- the pages, by kind --------------------------------------------------------------------


def case_numbers() -> list[str]:
    from casemgmt.cases.models import Case

    return list(Case.objects.order_by("id").values_list("case_number", flat=True))


def queue_pages() -> list[str]:
    return ["/", "/queue/"]


def case_pages() -> list[str]:
    return [f"/cases/{number}/" for number in case_numbers()]


def letter_pages() -> list[str]:
    from casemgmt.cases.models import Decision

    return [
        f"/cases/{number}/letter/{pk}/"
        for pk, number in Decision.objects.order_by("id").values_list("pk", "case__case_number")
    ]


def dashboard_pages() -> list[str]:
    from datetime import date

    return ["/dashboard/", "/dashboard/report/", f"/dashboard/report/?year={date.today().year}"]


def audit_pages() -> list[str]:
    from casemgmt.audit.models import AuditEvent

    rows = AuditEvent.objects.order_by("-id").values_list("pk", flat=True)[:MAX_AUDIT_ROWS]
    return ["/audit/", *(f"/audit/{pk}/" for pk in rows)]


def retro_pages() -> list[str]:
    from casemgmt.retro.models import RetroReviewItem

    return ["/queue/retro/", *(f"/queue/retro/{pk}/" for pk in RetroReviewItem.objects.values_list("pk", flat=True))]


def gold_card_pages() -> list[str]:
    return ["/gold-cards/"]


def policy_pages() -> list[str]:
    from policies_app.models import PolicyVersion

    return [
        *(f"/policies/versions/{pk}/" for pk in PolicyVersion.objects.values_list("pk", flat=True)),
        "/prior-authorization/requirements/",
    ]


def admin_pages(username: str) -> list[str]:
    """The admin's index, and each changelist, add page and first change page the user may open."""
    user = User.objects.get(username=username)
    if not user.is_staff:
        return []
    request = RequestFactory().get("/admin/")
    request.user = user
    urls = ["/admin/"]
    for app in admin.site.get_app_list(request):
        for entry in app["models"]:
            model = entry["model"]
            if entry.get("admin_url"):
                urls.append(entry["admin_url"])
            if entry.get("add_url"):
                urls.append(entry["add_url"])
            first = model._default_manager.order_by("pk").first()
            if first is not None:
                urls.append(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[first.pk]))
    return urls


PAGES: dict[str, Callable[[], list[str]]] = {
    "queue": queue_pages,
    "case pages": case_pages,
    "letters": letter_pages,
    "dashboard": dashboard_pages,
    "audit log": audit_pages,
    "retrospective review": retro_pages,
    "gold cards": gold_card_pages,
    "policy pages": policy_pages,
}


def legitimate_words(admin_pages: bool) -> frozenset[str]:
    """User names are shown as they are ("manager" is a demo account's name). In the editors'
    admin, the fact catalogue's keys: the identifiers integrations send clinical facts under,
    which the catalogue is there to define."""
    from policies_app.models import FactDefinition

    words = set(User.objects.values_list("username", flat=True))
    if admin_pages:
        words |= set(FactDefinition.objects.values_list("key", flat=True))
    return frozenset(words)


def walk(username: str, urls: list[str], *, admin_pages: bool = False) -> dict[str, set[str]]:
    client = browser(username)
    allowed = legitimate_words(admin_pages)
    problems: dict[str, set[str]] = {}
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code < 500, f"{username} {url}: {response.status_code}"
        content_type = response.get("Content-Type", "")
        if not content_type.startswith("text/html"):
            continue
        found = raw_codes_in(response.content.decode(), allowed)
        if found:
            problems[url] = found
    return problems


def report(problems: dict[str, set[str]]) -> str:
    return "raw codes on pages:\n" + "\n".join(
        f"  {url}: {', '.join(sorted(found))}" for url, found in problems.items()
    )


def _params() -> Iterator[object]:
    for role in ROLES:
        for kind in PAGES:
            yield pytest.param(role, kind, id=f"{role}-{kind}")


@pytest.fixture(autouse=True)
def quiet_refusals() -> Iterator[None]:
    """Refused pages log a warning with a traceback each; the walk opens many on purpose."""
    logging.disable(logging.WARNING)
    yield
    logging.disable(logging.NOTSET)


@pytest.mark.parametrize(("role", "kind"), list(_params()))
def test_pages_show_labels_not_codes(demo: None, role: str, kind: str) -> None:
    problems = walk(role, PAGES[kind]())
    assert not problems, report(problems)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "auditor"])
def test_admin_pages_show_labels_not_codes(demo: None, role: str) -> None:
    problems = walk(role, admin_pages(role), admin_pages=True)
    assert not problems, report(problems)


# --- the detector itself -------------------------------------------------------------------


def test_the_detector_finds_a_raw_value_in_a_cell_and_in_a_sentence() -> None:
    assert raw_codes_in("<td>experimental_investigational</td>") == {"experimental_investigational"}
    assert raw_codes_in("<p>Role: nurse_reviewer.</p>") == {"nurse_reviewer"}
    assert raw_codes_in("<td>commercial, exchange</td>") == {"commercial, exchange"}
    assert raw_codes_in("<td>commercial</td>") == {"commercial"}


def test_the_detector_leaves_words_paths_and_code_blocks_alone() -> None:
    assert raw_codes_in("<p>3 requests approved, 1 denied; Commercial, Exchange (ACA marketplace)</p>") == set()
    assert raw_codes_in('<td><code>GET /api/v1/retro_runs</code></td><pre>{"in_review": 1}</pre>') == set()
    assert raw_codes_in('<a href="/cases/x/?sort=due_at">Due</a>') == set()


def test_every_model_choice_set_is_covered() -> None:
    """The detector knows the values of every field with choices in the project."""
    snake, bare = raw_values()
    for model in apps.get_models():
        if not model.__module__.startswith(("casemgmt", "policies_app")):
            continue
        for field in model._meta.get_fields():
            for value, _ in getattr(field, "choices", None) or []:
                if isinstance(value, str) and value.islower():
                    assert value in snake | bare, f"{model.__name__}.{field.name}: {value}"
