"""Audit completeness: every view in the URL map that shows member data writes an audit row.

Every URL the project answers (django.urls.get_resolver, the admin and the API included) must be
classified, here or in its code:

- it shows member data: its view carries casemgmt.audit.recording's mark (`audited_view`,
  `AuditedApiMixin`, or `AuditedAdminMixin` with `audit_member_data = True`), and RECIPES says
  how a persona with access requests it; the test requests it and finds the row;
- it only changes data (CHANGE_ONLY): it refuses GET, and the service it calls records the change
  (tests/casemgmt/audit/test_recording_changes.py);
- it shows no member data (NO_MEMBER_DATA), with the reason.

A new URL that is none of these fails test_every_url_is_classified, naming it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.options import BaseModelAdmin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.audit.recording import AuditedAdminMixin, AuditSpec
from casemgmt.audit.services import audit_record
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.security.services import api_token_create, roles_sync_permissions

pytestmark = pytest.mark.django_db


# --- the URL map ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # the pattern as written, e.g. cases/<str:case_number>/
    name: str | None
    callback: Callable[..., Any]

    @property
    def key(self) -> str:
        """How the lists below name it: the URL name, or the route of an unnamed pattern."""
        return self.name or self.route

    @property
    def model_admin(self) -> BaseModelAdmin[Any] | None:
        admin = getattr(self.callback, "model_admin", None)
        if admin is None:
            # Custom admin views are bound methods wrapped by admin_view.
            admin = getattr(getattr(self.callback, "__wrapped__", None), "__self__", None)
        return admin if isinstance(admin, BaseModelAdmin) else None


def routes() -> Iterator[Route]:
    def walk(patterns: list[Any], prefix: str, namespace: str | None) -> Iterator[Route]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = namespace
                if pattern.namespace:
                    inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
            else:
                assert isinstance(pattern, URLPattern)
                name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
                yield Route(prefix + str(pattern.pattern), name, pattern.callback)

    yield from walk(get_resolver().url_patterns, "", None)


def audit_spec(route: Route) -> AuditSpec | None:
    """The mark an audited view carries, wherever its kind keeps it."""
    spec = getattr(route.callback, "audit_spec", None) or getattr(
        getattr(route.callback, "cls", None), "audit_spec", None
    )
    if spec is not None:
        return spec
    admin = route.model_admin
    if isinstance(admin, AuditedAdminMixin) and admin.audit_member_data:
        # The mixin records the two pages that show the records: the list and one record's page.
        prefix = f"admin:{admin.model._meta.app_label}_{admin.model._meta.model_name}"
        if route.name == f"{prefix}_changelist":
            return AuditSpec("list", admin._audit_type())
        if route.name == f"{prefix}_change":
            return AuditSpec("view", admin._audit_type())
    return None


# --- classification ---------------------------------------------------------------------------

CHANGE_ONLY: dict[str, str] = {
    "case_decide": "POST only; decision_record records the decision",
    "case_refer": "POST only; the transition records the status change",
    "case_note": "POST only; case_note_add records the note",
    "case_pend": "POST only; case_pend_for_information records the status change",
    "case_peer_to_peer": "POST only; case_peer_to_peer_record records the discussion",
    "case_claim": "POST only; case_claim records it (the htmx answer redraws the queue row the user saw)",
    "case_reassign": "POST only; case_reassign records it (as for a claim)",
    "queue_next_case": "POST only; case_claim records the claim of the case it hands out",
    "api_case_information": "POST only; case_information_add records the facts and notes changed",
    "api_case_cancel": "POST only; case_cancel records the status change",
    "fhir:claim_submit": "POST only; case_submit or case_cancel records the change, a retried bundle a view",
    "api_case_pend": "POST only; case_pend_for_information records the status change",
    "api_case_appeals": "POST only; appeal_open records the appeal case it opens",
    "api_case_reopen": "POST only; case_reopen records the status change",
    "case_appeal": "POST only; appeal_open records the appeal case it opens",
    "case_reopen": "POST only; case_reopen records the status change",
    "case_fact": "POST only; case_fact_record records the fact (its answer is the line the reviewer's audited page shows)",
    "api_authorization_extensions": "POST only; the extension case's creation is recorded by case_derive",
    "api_eligibility": "POST only; coverage_rows_load records each load (counts, no member)",
    "retro_item_claim": "POST only; the retrospective review services record it",
    "retro_item_resolve": "POST only; the retrospective review services record it",
    "retro_item_refer": "POST only; the retrospective review services record it",
    "retro_item_correct": "POST only; decision_record (correction) records the new decision",
    "gold_card_grant": "POST only; gold_card_grant records the exemption",
    "gold_card_revoke": "POST only; gold_card_revoke records the revocation",
}

NO_MEMBER_DATA: dict[str, str] = {
    "home": "redirects to the user's start page",
    "queue_filter_save": "POST only; saves the user's own named queue filter (filters and sort, never a search term)",
    "queue_filter_delete": "POST only; deletes the user's own named queue filter; shows nothing",
    "login": "the sign-in form; sign-ins and failures are recorded by the auth signals",
    "logout": "signs out (recorded by the auth signal)",
    "policy_version_detail": "a published policy version: library content, no member",
    "policy_search": "searches the policy library by number or title",
    "requirements_list": "the public list of services requiring prior authorization: published rules, no member",
    "requirements_csv": "the same public list as CSV",
    "dashboard": "aggregate counts and rates; reviewer workload by staff name, no member",
    "dashboard_export": "the dashboard's aggregate figures as CSV, no member",
    "gold_cards": "providers' gold-card exemptions (NPI, programme, counts): no member",
    "healthz": "database and broker status",
    "api_schema": "the OpenAPI schema",
    "fhir:metadata": "the FHIR CapabilityStatement: no data",
    "fhir:subscription_create": "POST only (a SMART token checked before the method): registers the client's "
    "subscription, recorded by subscription_create; answers the subscription, no member",
    "fhir:subscription": "the client's own subscription: endpoint and status, no member; "
    "turning it off (DELETE) is recorded by subscription_off",
    "fhir:subscription_status": "the client's own subscription's status and event count, no member",
    "fhir:questionnaire_package": "DTR Questionnaires built from published policy versions: no member data",
    "fhir:questionnaire": "a DTR Questionnaire built from a published policy version: no member data",
    "fhir:questionnaire_search": "DTR Questionnaires found by canonical URL: no member data",
    "api_docs": "the API documentation page",
    "api_coverage": "which policy governs a code on a date: no member",
    "cds_services": "CDS Hooks discovery: the CRD services and their prefetch, no data",
    "cds_service": "POST only: answers about the order the EHR sends, showing no stored member data; "
    "each call and its assertions are recorded by crd_hook_answer",
    "api_webhooks": "the client's webhook URLs; a subscription is recorded by webhook_subscribe",
    "retro_runs_panel": "retrospective review runs: counts and progress, no member",
    "retro_run_progress": "one run's counts and progress, no member",
    "api_retro_runs": "retrospective review runs (policy, dates, counts); starting one is recorded by its service",
    "api_retro_run_detail": "one run's parameters and counts",
    "api_retro_run_cancel": "POST only: cancels a run (recorded by its service)",
    "fhir:smart_configuration": "SMART discovery: endpoints, algorithms and scopes",
    "fhir:token": "POST only: issues a backend client's access token (recorded as its sign-in), no member",
    # The admin site's own pages.
    "admin:index": "the admin's start page: links to models",
    "admin:login": "the admin's sign-in form (sign-ins recorded by the auth signals)",
    "admin:logout": "signs out",
    "admin:password_change": "the user's own password form",
    "admin:password_change_done": "a confirmation",
    "admin:autocomplete": "search for autocomplete fields; no admin that holds member data declares one",
    "admin:jsi18n": "the admin's JavaScript translations",
    "admin:view_on_site": "redirects to an object's page (none of the admin's models holds member data)",
    "admin:app_list": "an app's list of models",
    "admin/(?P<url>.*)$": "the admin's catch-all: redirects or 404",
    # Custom admin views, by URL name.
    "admin:casemgmt_apitoken_revoke": "POST only: api_token_revoke records it",
    "admin:auth_user_password_change": "sets a password (recorded as a change, the value masked)",
    "admin:policies_app_policyversion_transition": "POST only: the policy services record each status change",
    "admin:policies_app_policyversion_draft_from": "copies a version into a draft (recorded by its service)",
    "admin:policies_app_policy_import": (
        "reads a policy document; its draft, field confirmations and fact mappings are recorded by the import services"
    ),
    "admin:policies_app_policyversion_compare": "compares policy versions: library content",
    "admin:policies_app_policyversion_diff": "compares policy versions: library content",
    "admin:policies_app_policyversion_try": "runs a draft version on facts typed in by the editor, never a case",
    # The review items' admin (its list and item pages are audited): its other pages show no item.
    "admin:retro_retroreviewitem_add": "refused: review items are opened by runs",
    "admin:retro_retroreviewitem_delete": "refused: a review item is never deleted",
    "admin:retro_retroreviewitem_history": "the admin's change messages, none: nothing is changed here",
    "admin/retro/retroreviewitem/<path:object_id>/": "redirects to the item's change page",
    # The authorizations' admin (its list and change pages are audited): its other pages show none.
    "admin:casemgmt_authorization_add": "refused: authorizations are issued by decisions",
    "admin:casemgmt_authorization_delete": "refused: an authorization is never deleted",
    "admin:casemgmt_authorization_history": "the admin's change messages, none: nothing is changed here",
    "admin/casemgmt/authorization/<path:object_id>/": "redirects to the authorization's change page",
}

# Admin models with no member data (their changes are recorded by AuditedAdminMixin where it is used).
NO_MEMBER_DATA_ADMIN_MODELS: dict[str, str] = {
    "casemgmt.deadlinerule": "deadline rules: configuration",
    "casemgmt.authorizationvalidityrule": "authorization validity rules: configuration",
    "casemgmt.appealwindow": "appeal filing windows: configuration",
    "casemgmt.duplicaterule": "duplicate request rules: configuration",
    "casemgmt.reviewreasoncode": "review decision reason codes (X12 886): configuration",
    "casemgmt.intakesettings": "the plan's switch for automatic approval (its change is audited by its service)",
    "casemgmt.apitoken": "which client holds which token; no member",
    "casemgmt.webhookdelivery": "notification outcomes: client, URL, event kind, status, errors; no payload, no member",
    "policies_app.policy": "the policy library",
    "policies_app.policyversion": "the policy library",
    "policies_app.factdefinition": "the clinical fact catalogue: definitions, no values",
    "policies_app.requirementrule": "which services need prior authorization: plan rules, no member",
    "auth.user": "staff and client accounts; no member",
    "auth.group": "roles",
    "axes.accessattempt": "sign-in attempts: staff user names and addresses",
    "axes.accesslog": "staff sign-ins",
    "axes.accessfailurelog": "failed staff sign-ins",
    "django_celery_beat.periodictask": "task schedule",
    "django_celery_beat.clockedschedule": "task schedule",
    "django_celery_beat.crontabschedule": "task schedule",
    "django_celery_beat.solarschedule": "task schedule",
    "django_celery_beat.intervalschedule": "task schedule",
    "retro.retrorun": "retrospective review runs: parameters and counts",
    "retro.retroschedule": "the nightly review's settings",
    "casemgmt.goldcardprogramme": "gold-card programmes: configuration",
    "casemgmt.goldcardexemption": "providers' gold-card exemptions (NPI, counts): no member",
    "fhir.fhirclient": "SMART backend clients: names, public keys, accounts; no member",
}


def classification(route: Route) -> list[str]:
    found = []
    if audit_spec(route) is not None:
        found.append("member data (audited)")
    if route.key in CHANGE_ONLY:
        found.append("change only")
    if route.key in NO_MEMBER_DATA:
        found.append("no member data")
    admin = route.model_admin
    if (
        admin is not None
        and route.key not in NO_MEMBER_DATA
        and admin.model._meta.label_lower in NO_MEMBER_DATA_ADMIN_MODELS
    ):
        found.append("admin model without member data")
    return found


def test_every_url_is_classified():
    unclassified = [f"{r.route} ({r.key})" for r in routes() if not classification(r)]
    assert not unclassified, (
        "these URLs are not classified for the audit log; mark the view with casemgmt.audit.recording "
        "(if it shows member data) or list it in tests/reliability/test_audit_completeness.py: "
        + ", ".join(unclassified)
    )


def test_no_url_is_classified_twice():
    twice = {f"{r.route} ({r.key})": kinds for r in routes() if len(kinds := classification(r)) > 1}
    assert not twice, twice


def test_the_lists_name_only_urls_that_exist():
    keys = {r.key for r in routes()}
    labels = {r.model_admin.model._meta.label_lower for r in routes() if r.model_admin is not None}
    assert set(CHANGE_ONLY) - keys == set()
    assert set(NO_MEMBER_DATA) - keys == set()
    assert set(NO_MEMBER_DATA_ADMIN_MODELS) - labels == set()


# --- the data every request needs -------------------------------------------------------------


@dataclass
class World:
    ids: dict[str, Any]
    personas: dict[str, Any]


@pytest.fixture
def world(request, settings, tmp_path, integration_client, physician, editor) -> World:
    """A case denied with a citation, with an attachment, an audit row and a retrospective review item."""
    from tests import factories

    settings.MEDIA_ROOT = tmp_path / "media"
    version = factories.publish(factories.draft_version(), editor)
    case = factories.case(integration_client)
    attachment = attachment_add(
        case_id=case.pk,
        user=integration_client,
        upload=SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 48),
    )
    decision = decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Unproven.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    approved = factories.case(integration_client, external_id="APPROVED-1")
    decision_record(
        case_id=approved.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    authorization = approved.authorizations.get()
    event = audit_record(action="view", object_type="case", object_id=case.case_number)
    ids = {
        "authorization_number": authorization.authorization_number,
        "authorization_id": authorization.pk,
        "case_number": case.case_number,
        "decision_id": decision.pk,
        "attachment_id": attachment.pk,
        "sequence": 1,
        "version_id": version.pk,
        "event_id": event.pk,
        "exemption_id": _gold_card(request.getfixturevalue("manager")),
    }
    ids.update(_retro_item(case, decision))
    names = ["nurse", "physician", "manager", "auditor", "integration_client", "other_client", "outsider"]
    return World(ids=ids, personas={name: request.getfixturevalue(name) for name in names})


def _gold_card(manager: Any) -> int:
    """A provider's gold card, granted by a manager."""
    from casemgmt.cases.services.gold_cards import gold_card_grant
    from tests import factories

    programme = factories.gold_card_programme(manager)
    return gold_card_grant(
        user=manager, programme_id=programme.pk, provider_npi=factories.VALID_NPI, reason="Pilot."
    ).pk


def _retro_item(case: Any, decision: Any) -> dict[str, Any]:
    """A retrospective review item (a discrepancy found on the decided case) and its run."""
    from casemgmt.retro.models import RetroOutcome, RetroResult, RetroReviewItem, RetroRun

    now = timezone.now()
    run = RetroRun.objects.create(trigger="on_demand", requested_via="api", seed=1, created_at=now)
    result = RetroResult.objects.create(
        run=run, case=case, decision=decision, outcome=RetroOutcome.DISCREPANCY, evaluated_at=now
    )
    item = RetroReviewItem.objects.create(
        run=run, case=case, result=result, decision=decision, opened_at=now, due_at=now + timedelta(days=30)
    )
    return {"item_id": item.pk, "run_id": run.pk}


def url_of(route: Route, ids: dict[str, Any]) -> str:
    assert route.name is not None, route.route
    return reverse(route.name, kwargs={name: ids[name] for name in _kwarg_names(route.route)})


def _kwarg_names(route: str) -> list[str]:
    return re.findall(r"<(?:\w+:)?(\w+)>", route)


# --- member-data views: each writes its row ---------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    persona: str
    api: bool = False  # with the persona's bearer token, as an integration does
    query: str = ""
    admin: bool = False  # signed in as staff, with the roles' admin permissions
    # URL arguments named otherwise than the world's ids: (argument, id), e.g. the admin's object_id.
    ids: tuple[tuple[str, str], ...] = ()
    # A FHIR operation: this body POSTed with an access token of the persona's SMART backend client.
    fhir_body: Callable[[], dict[str, Any]] | None = None


def pas_inquiry() -> dict[str, Any]:
    """A PAS inquiry about the world's member and provider (their cases came through v1: none is shown)."""
    from tests import factories
    from tests.casemgmt.fhir.test_inquire import inquiry_for

    return inquiry_for("M123", factories.VALID_NPI)


def fhir_api_for(user: Any) -> APIClient:
    """The persona's calls as the SMART backend client registered for it makes them."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from casemgmt.fhir.models import FhirClient
    from tests.casemgmt.fhir.conftest import api_for, public_jwks

    key = ec.generate_private_key(ec.SECP384R1())
    return api_for(FhirClient.objects.create(name="EHR", user=user, jwks=public_jwks(key)))


RECIPES: dict[str, Recipe] = {
    "queue": Recipe("nurse"),
    "case_detail": Recipe("nurse"),
    "case_attachment_view": Recipe("physician"),
    "case_letter": Recipe("manager", query="?to=provider"),
    "case_letter_pdf": Recipe("manager", query="?to=member"),
    "audit_events": Recipe("auditor"),
    "audit_export": Recipe("auditor"),
    "audit_event": Recipe("auditor"),
    "api_cases": Recipe("integration_client", api=True),
    "api_case_detail": Recipe("integration_client", api=True),
    "api_case_decisions": Recipe("integration_client", api=True),
    "api_case_attachments": Recipe("integration_client", api=True),
    "api_case_attachment_download": Recipe("integration_client", api=True),
    "retro_queue": Recipe("nurse"),
    "retro_item": Recipe("nurse"),
    "admin:retro_retroreviewitem_changelist": Recipe("manager", admin=True),
    "admin:retro_retroreviewitem_change": Recipe("manager", admin=True, ids=(("object_id", "item_id"),)),
    "api_authorizations": Recipe(
        "integration_client",
        api=True,
        query=f"?member_id=M123&code=62330&date_of_service={timezone.localdate() + timedelta(days=10)}",
    ),
    "api_authorization_detail": Recipe("integration_client", api=True),
    "dashboard_report": Recipe("manager", query=f"?year={timezone.localdate().year}"),
    "dashboard_report_export": Recipe("manager", query=f"?year={timezone.localdate().year}"),
    "api_reports_cms_0057f": Recipe("manager", api=True, query=f"?year={timezone.localdate().year}"),
    "admin:casemgmt_authorization_changelist": Recipe("manager", admin=True),
    "admin:casemgmt_authorization_change": Recipe("manager", admin=True, ids=(("object_id", "authorization_id"),)),
    "fhir:claim_inquire": Recipe("integration_client", fhir_body=pas_inquiry),
}


def member_data_routes() -> dict[str, Route]:
    return {r.key: r for r in routes() if audit_spec(r) is not None}


def test_every_member_data_view_has_a_recipe():
    audited = set(member_data_routes())
    assert audited - set(RECIPES) == set(), "add a recipe for these audited views"
    assert set(RECIPES) - audited == set(), "these views have a recipe but no audit mark: they show member data"


@pytest.mark.parametrize("key", sorted(RECIPES))
def test_requesting_a_member_data_view_writes_an_audit_row(key, world):
    route = member_data_routes().get(key)
    if route is None:
        pytest.fail(f"{key} shows member data but its view is not marked with casemgmt.audit.recording")
    recipe = RECIPES[key]
    ids = {**world.ids, **{argument: world.ids[name] for argument, name in recipe.ids}}
    missing = [name for name in _kwarg_names(route.route) if name not in ids]
    assert not missing, f"{key}: the test world has no {missing}"
    user = world.personas[recipe.persona]
    if recipe.admin:
        roles_sync_permissions()
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    if recipe.api:
        _, raw = api_token_create(user=user)
        client: Client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client = Client()
        client.force_login(user)
    url = url_of(route, ids)
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
    response: Any
    if recipe.fhir_body is not None:
        response = fhir_api_for(user).post(url, recipe.fhir_body(), format="json")
    else:
        response = client.get(url + recipe.query)
    if getattr(response, "streaming", False):
        b"".join(getattr(response, "streaming_content", []))
    assert response.status_code == 200, f"{key}: {response.status_code}"
    spec = audit_spec(route)
    assert spec is not None
    # (A letter's PDF also writes the service's "letter produced" row: only the view's own is counted.)
    written = AuditEvent.objects.filter(id__gt=before, path=url, action=spec.action)
    assert [(e.actor, e.object_type, e.status_code) for e in written] == [(user, spec.object_type, 200)], (
        f"{key}: expected one {spec.action} row for {url}"
    )


# --- change-only views refuse GET -------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(CHANGE_ONLY))
def test_a_change_only_view_shows_nothing_on_get(key, world):
    route = next((r for r in routes() if r.key == key), None)
    assert route is not None
    missing = [name for name in _kwarg_names(route.route) if name not in world.ids]
    # A view the test world cannot reach would go unchecked: that is a failure, not a skip.
    assert not missing, f"{key}: no {missing} in the test world; add one so the view is checked"
    user = world.personas["integration_client" if key.startswith("api_") else "nurse"]
    client = Client()
    client.force_login(user)
    assert client.get(url_of(route, world.ids)).status_code == 405


# --- the test catches what it should ----------------------------------------------------------


def test_a_new_unclassified_url_is_caught(settings):
    import sys
    import types

    from django.http import HttpResponse
    from django.urls import clear_url_caches, path

    import casemgmt.urls

    def new_page(request: Any) -> HttpResponse:
        return HttpResponse("member list")

    module = types.ModuleType("audit_completeness_urls")
    module.urlpatterns = [*casemgmt.urls.urlpatterns, path("members/", new_page, name="members")]  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    settings.ROOT_URLCONF = module.__name__
    clear_url_caches()
    try:
        unclassified = [r.key for r in routes() if not classification(r)]
    finally:
        del sys.modules[module.__name__]
        clear_url_caches()
    assert "members" in unclassified
