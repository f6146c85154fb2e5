"""No member data in Celery messages, logs, error pages or URL query strings."""

from __future__ import annotations

import importlib
import inspect
import io
import logging
import re
import sys
from datetime import date
from html.parser import HTMLParser

import pytest
from celery.app.task import Task
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile

from casemgmt.audit.logs import WITHHELD, MemberDataSafeFormatter
from casemgmt.cases.services.assignment import case_claim
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import MemberInput
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_information_add
from casemgmt.cases.services.webhooks import webhook_subscribe
from tests import factories
from tests.casemgmt.audit.conftest import PNG, api, web

pytestmark = pytest.mark.django_db

MEMBER = MemberInput(
    member_id="ZQ-556677", first_name="Philomena", last_name="Quaintance", birth_date=date(1961, 7, 19)
)
MEMBER_STRINGS = ("ZQ-556677", "Philomena", "Quaintance", "1961-07-19")


# --- Celery -----------------------------------------------------------------------------------


def our_tasks() -> dict[str, Task]:
    from casemgmt.celery import app

    for config in apps.get_app_configs():
        if importlib.util.find_spec(f"{config.name}.tasks") is not None:
            importlib.import_module(f"{config.name}.tasks")
    return {name: task for name, task in app.tasks.items() if name.startswith(("casemgmt.", "policies_app."))}


def test_every_task_takes_only_integer_ids():
    tasks = our_tasks()
    assert "casemgmt.tasks.case_flags_refresh_task" in tasks
    for name, task in tasks.items():
        module = sys.modules[task.run.__module__]
        hints = inspect.get_annotations(task.run, eval_str=True, globals=vars(module))
        parameters = [p for p in inspect.signature(task.run).parameters.values() if p.name != "self"]
        for parameter in parameters:
            assert parameter.name.endswith("_id"), f"{name}: parameter {parameter.name} is not an id"
            assert hints.get(parameter.name) is int, f"{name}: {parameter.name} must be an int primary key"


def test_messages_sent_during_a_case_life_carry_only_ids(
    integration_client, nurse, physician, editor, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    sent: list[tuple[str, tuple, dict]] = []
    original = Task.apply_async

    def recording(self, args=None, kwargs=None, *rest, **options):
        sent.append((self.name, tuple(args or ()), dict(kwargs or {})))
        return original(self, args, kwargs, *rest, **options)

    def no_network(*args, **kwargs):
        raise OSError("no network in tests")

    monkeypatch.setattr(Task, "apply_async", recording)
    monkeypatch.setattr("urllib.request.urlopen", no_network)
    with django_capture_on_commit_callbacks(execute=True):
        webhook_subscribe(client=integration_client, url="https://hooks.example.org/pa")
    with django_capture_on_commit_callbacks(execute=True):
        case = factories.case(integration_client, member=MEMBER, clinical_notes="Quaintance reports pain.")
    with django_capture_on_commit_callbacks(execute=True):
        version = factories.publish(factories.draft_version(), editor)
    with django_capture_on_commit_callbacks(execute=True):
        case_claim(case_id=case.pk, user=nurse)
        case_pend_for_information(case_id=case.pk, user=nurse, needed="Quaintance's MRI")
    with django_capture_on_commit_callbacks(execute=True):
        attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("Quaintance.png", PNG))
        case_information_add(
            case_id=case.pk, user=integration_client, clinical_facts={"conservative_therapy_weeks": 12}
        )
    with django_capture_on_commit_callbacks(execute=True):
        decision_record(
            case_id=case.pk,
            user=physician,
            lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Quaintance: unproven.")],
            citations=[CitationInput(policy_version_id=version.pk)],
        )
    names = {name for name, _, _ in sent}
    assert {
        "casemgmt.tasks.webhook_deliver_task",
        "policies_app.tasks.policy_version_reflag_open_cases_task",
    } <= names
    for name, args, kwargs in sent:
        assert kwargs == {}, f"{name} sent keyword arguments {kwargs}"
        assert all(type(arg) is int for arg in args), f"{name} sent {args!r}"
        assert not any(s in repr(args) for s in MEMBER_STRINGS)


# --- logs and error pages ---------------------------------------------------------------------


def _console_handler() -> logging.Handler:
    handler = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, MemberDataSafeFormatter))
    return handler


def test_logging_is_configured_with_the_member_data_safe_formatter_and_no_error_mails():
    handler = _console_handler()
    assert handler.formatter.exception_detail is False
    django_handlers = logging.getLogger("django").handlers
    assert not any(type(h).__name__ == "AdminEmailHandler" for h in django_handlers)


def test_a_traceback_in_the_log_names_the_error_and_the_line_but_not_its_message():
    formatter = MemberDataSafeFormatter("%(message)s")
    try:
        try:
            raise KeyError("ZQ-556677")
        except KeyError as inner:
            raise ValueError("duplicate key (member_id)=(ZQ-556677) Quaintance") from inner
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/cases/PA-1/",), sys.exc_info()
        )
    text = formatter.format(record)
    assert "Internal Server Error: /cases/PA-1/" in text
    assert "builtins.ValueError: " + WITHHELD in text and "builtins.KeyError: " + WITHHELD in text
    assert "test_no_member_data_leaks.py" in text and 'raise ValueError("duplicate key' in text
    assert "=(ZQ-556677)" not in text.replace(
        'raise ValueError("duplicate key (member_id)=(ZQ-556677) Quaintance")', ""
    )


def test_with_exception_detail_on_the_message_is_kept():
    formatter = MemberDataSafeFormatter("%(message)s", exception_detail=True)
    try:
        raise ValueError("detail kept")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert "ValueError: detail kept" in formatter.format(record)


def test_a_server_error_shows_a_plain_page_and_logs_no_member_data(integration_client, nurse, monkeypatch):
    case = factories.case(integration_client, member=MEMBER)

    def explode(*args):
        raise RuntimeError(f"cannot draw the checklist of {MEMBER.first_name} {MEMBER.last_name} ({MEMBER.member_id})")

    monkeypatch.setattr("casemgmt.workspace.case.line_panels", explode)
    handler = _console_handler()
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        browser = web(nurse)
        browser.raise_request_exception = False
        response = browser.get(f"/cases/{case.case_number}/")
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong" in page
    logged = stream.getvalue()
    assert f"Internal Server Error: /cases/{case.case_number}/" in logged
    assert "RuntimeError: " + WITHHELD in logged
    for text in (page, logged.replace('raise RuntimeError(f"cannot draw the checklist of {MEMBER.first_name}', "")):
        assert not any(s in text for s in MEMBER_STRINGS), text


# --- URL query strings ------------------------------------------------------------------------

# Every field a GET form on a page may send, by the path it is sent to: nothing about a member.
GET_FIELDS_ALLOWED = {
    "/queue/": set(),  # the queue's filter form is POSTed (it has the member search)
    "/dashboard/": {"start", "end"},
    "/policies/search": {"q"},  # a policy number or title
    "/audit/": {"actor", "role", "action", "object_type", "object_id", "channel", "date_from", "date_to", "ip"},
}


class _Forms(HTMLParser):
    """GET forms on a page, with the names of the fields that belong to each."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict] = {}
        self.current: str | None = None
        self.loose: list[tuple[str, str]] = []  # (form id, field name) for fields placed outside their form

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            key = a.get("id") or f"form{len(self.forms)}"
            self.forms[key] = {"method": a.get("method", "get").lower(), "action": a.get("action", ""), "fields": set()}
            self.current = key
        elif tag in ("input", "select", "textarea", "button") and a.get("name"):
            if a.get("form"):
                self.loose.append((a["form"], a["name"]))
            elif self.current is not None:
                self.forms[self.current]["fields"].add(a["name"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.current = None


def get_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    for form_id, name in parser.loose:
        parser.forms[form_id]["fields"].add(name)
    return [form for form in parser.forms.values() if form["method"] == "get"]


def test_no_page_has_a_get_form_that_could_put_member_data_in_a_url(world, integration_client, nurse, manager, auditor):
    open_case = factories.case(integration_client)  # its page has the decision form and the citation search
    pages = [
        (nurse, "/queue/"),
        (nurse, f"/cases/{open_case.case_number}/"),
        (manager, f"/cases/{world.case.case_number}/"),
        (nurse, f"/cases/{world.case.case_number}/letter/{world.decision.pk}/"),
        (nurse, "/policies/search?q=test"),
        (manager, "/dashboard/"),
        (auditor, "/audit/"),
    ]
    seen_actions = set()
    for user, url in pages:
        html = web(user).get(url).content.decode()
        for form in get_forms(html):
            action = re.sub(r"/cases/[^/]+/", "/cases/<n>/", form["action"].split("#")[0]) or url
            if action == "/cases/<n>/":
                allowed = {"q"}  # the citation search: policy number or title
            else:
                assert action in GET_FIELDS_ALLOWED, f"{url}: a GET form sends to {action}; list what it may send"
                allowed = GET_FIELDS_ALLOWED[action]
            assert form["fields"] <= allowed, f"{url}: GET form to {action} sends {form['fields'] - allowed}"
            seen_actions.add(action)
    assert {"/dashboard/", "/audit/", "/cases/<n>/"} <= seen_actions


def test_the_api_takes_no_member_data_in_a_query_string(db, integration_client):
    schema = web(integration_client).get("/api/schema/?format=json")
    assert schema.status_code == 200
    allowed = {
        "status",
        "urgency",
        "updated_since",
        "page",
        "code",
        "code_system",
        "date_of_service",
        "line_of_business",
        "year",  # the CMS-0057-F report's
        "plan_id",  # a plan or contract number, not a member's
        "diagnosis_codes",  # the coverage question's ICD-10-CM codes: codes, with no member
    }
    # The one exception is the claims question itself, whose form issue 16 sets ("is there a
    # valid authorization for this member, service and date?" as a GET): our own logs name
    # requests by path, never the query string (casemgmt/audit/logs.py; docs/security.md).
    exceptions = {("get", "/api/v1/authorizations"): {"member_id"}}
    for path, operations in schema.json()["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
            names -= exceptions.get((method, path), set())
            assert names <= allowed, f"{method.upper()} {path} takes {names - allowed} in its query string"


def test_the_api_refuses_a_member_filter_rather_than_ignoring_it(integration_client):
    response = api(integration_client).get("/api/v1/cases?member_id=M123")
    assert response.status_code == 400
    assert "member_id" in response.json()["errors"]
