"""The permission matrix (casemgmt/security/access_matrix.py), tested exhaustively.

For every row (each page and method, each API endpoint and method, each admin model action),
every persona makes the request, with a body valid enough that the answer reflects access
alone, and gets exactly the answer the row says. Each persona's request runs in a savepoint
that is rolled back, so one persona's successful write (a decision, a claim) does not change
what the next one meets.

Every refusal (sign-in redirect or 401, 403, 404) must carry none of the fixture case's member
data: the member's name, id and birth date, the case number, the submitter's reference.

The URL map and the admin are walked too: a URL pattern or a registered admin model without a
row fails `test_every_url_pattern_has_a_row` / `test_every_admin_model_has_a_row`, so a new page
cannot ship without saying who may use it. Methods a page or endpoint does not list must be
refused with 405 (`test_methods_not_in_the_matrix_are_not_allowed`).

A denied write changes nothing; the case list and the webhook list show each persona only its
own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Model
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from casemgmt.audit.models import AuditEvent
from casemgmt.cases.models import (
    ApiToken,
    AppealWindow,
    Attachment,
    Authorization,
    AuthorizationValidityRule,
    Case,
    DeadlineRule,
    Decision,
    DuplicateRule,
    IntakeSettings,
    LineOutcome,
    ReviewReasonCode,
)
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.gold_cards import gold_card_grant
from casemgmt.cases.services.intake import LineInput, MemberInput
from casemgmt.cases.services.queue_filters import saved_queue_filter_save
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.kernel.roles import Role
from casemgmt.security.access_matrix import (
    ADMIN_MODELS,
    MATRIX,
    STAFF,
    Access,
    AdminAction,
    Entry,
    Persona,
    Surface,
)
from casemgmt.security.services import api_token_create, roles_sync_permissions
from policies_app.models import FactDefinition, PolicyVersion, RequirementRule
from tests import factories

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
# Member data distinctive enough that finding it in a response cannot be a coincidence.
MEMBER = MemberInput(member_id="MQX55501", first_name="Zebulon", last_name="Quixtarre", birth_date=date(1957, 3, 9))
EXTERNAL_ID = "EHR-MATRIX-7731"
OWNER_WEBHOOK = "https://ehr.example.com/owner-hook"
SEES_CASE = frozenset({Persona.CLIENT, Persona.NURSE, Persona.PHYSICIAN, Persona.MANAGER})
DENIALS = {Access.SIGN_IN, Access.FORBIDDEN, Access.HIDDEN}


@dataclass
class World:
    users: dict[Persona, User]
    case: Case  # open, submitted by CLIENT, with an attachment
    decided_case: Case
    decision: Decision
    attachment: Attachment
    version: PolicyVersion  # published
    draft: PolicyVersion  # a draft of the same policy
    token: ApiToken  # CLIENT's
    # Retrospective review: an open review item (on a decided case) and the run that opened it.
    # Built only for the rows that need them (see `retro`).
    media: Path = Path()
    retro_item: Any = None
    retro_run: Any = None

    def fill(self, path: str, **extra: Any) -> str:
        values = {
            "case": self.case.case_number,
            "decided_case": self.decided_case.case_number,
            "decision": self.decision.pk,
            "attachment": self.attachment.pk,
            "version": self.version.pk,
            "draft": self.draft.pk,
            "policy": self.version.policy_id,
            "policy_content_type": ContentType.objects.get_for_model(self.version.policy).pk,
            "token": self.token.pk,
            "user": self.users[Persona.NURSE].pk,
            "retro_item": getattr(self.retro_item, "pk", None),
            "audit_event": AuditEvent.objects.order_by("pk").values_list("pk", flat=True).first(),
            "retro_run": getattr(self.retro_run, "pk", None),
            "saved_filter": self.nurses_saved_filter(),
            # The authorization the approval of the decided case issued, and what it covers.
            "authorization": self.authorization().authorization_number,
            "member": MEMBER.member_id,
            "date_of_service": self.authorization().valid_from.isoformat(),
            **extra,
        }
        return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)

    def nurses_saved_filter(self) -> int:
        """A queue filter the nurse saved: hers to delete, not found for anyone else."""
        saved = saved_queue_filter_save(user=self.users[Persona.NURSE], name="Expedited", query="urgency=expedited")
        return saved.pk

    def authorization(self) -> Authorization:
        return Authorization.objects.get(case=self.decided_case)

    def member_secrets(self) -> list[bytes]:
        """The member's data and the submitter's reference for the request."""
        born = MEMBER.birth_date
        values = [MEMBER.member_id, MEMBER.first_name, MEMBER.last_name, born.isoformat(), born.strftime("%m/%d/%Y")]
        values.append(EXTERNAL_ID)
        return [v.encode() for v in values]

    def secrets(self) -> list[bytes]:
        """What no refused response may contain: the member data and the case numbers."""
        return [*self.member_secrets(), self.case.case_number.encode(), self.decided_case.case_number.encode()]


# The persona accounts, as the conftest fixtures name them (built here, once per module).
USERNAMES = {
    Persona.NURSE: ("nina.nurse", Role.NURSE),
    Persona.PHYSICIAN: ("phil.physician", Role.PHYSICIAN),
    Persona.EDITOR: ("eddie.editor", Role.POLICY_EDITOR),
    Persona.MANAGER: ("mona.manager", Role.MANAGER),
    Persona.AUDITOR: ("audrey.auditor", Role.AUDITOR),
    Persona.CLIENT: ("ehr.client", Role.INTEGRATION_CLIENT),
    Persona.OTHER_CLIENT: ("other.portal", Role.INTEGRATION_CLIENT),
    Persona.CLAIMS_SYSTEM: ("claims.system", Role.CLAIMS_SYSTEM),
    Persona.OUTSIDER: ("olive.outsider", None),
}


def build_world(media: Path) -> World:
    roles_sync_permissions()
    users: dict[Persona, User] = {}
    for persona, (username, role) in USERNAMES.items():
        # As demo_user_ensure sets it: every role but the integration clients is staff.
        roles = (role,) if role is not None else ()
        users[persona] = factories.user(username, *roles, staff=persona in STAFF)
    client = users[Persona.CLIENT]
    version = factories.publish(factories.draft_version(), users[Persona.EDITOR])
    draft = factories.draft_version(version.policy, version_label="2099-01", effective_start=date(2099, 1, 1))
    member = MEMBER
    case = factories.case(client, external_id=EXTERNAL_ID, member=member)
    attachment = attachment_add(
        case_id=case.pk, user=client, upload=SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf")
    )
    # Decided with one line approved (an authorization to extend) and one denied (a line to appeal).
    dos = timezone.localdate() + timedelta(days=10)
    decided_case = factories.case(
        client,
        external_id=EXTERNAL_ID + "-B",
        member=member,
        service_lines=(
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos),
            LineInput(code_system="CPT", code="62330", units=2, date_of_service=dos),
        ),
    )
    decision = decision_record(
        case_id=decided_case.pk,
        user=users[Persona.PHYSICIAN],
        lines=[
            DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED),
            DecisionLineInput(service_line=2, outcome=LineOutcome.DENIED, reason="Investigational per policy."),
        ],
        citations=[CitationInput(policy_version_id=version.pk)],
        rationale="Meets the policy for one level only.",
    )
    webhook_subscribe(client=client, url=OWNER_WEBHOOK)
    token, _ = api_token_create(user=client, label="EHR")
    case.refresh_from_db()
    return World(users, case, decided_case, decision, attachment, version, draft, token, media=media)


@pytest.fixture(scope="module")
def shared_world(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The data every test reads, built once for the module inside a transaction that is rolled
    back at its end; each test runs in a savepoint of it (pytest-django's `db`), and each
    persona's request in a savepoint of that, so nothing one request writes is seen by another."""
    media = tmp_path_factory.mktemp("matrix-media")
    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=media, WEBHOOK_ALLOW_PRIVATE_NETWORKS=True),
        transaction.atomic(),
    ):
        yield build_world(media)
        transaction.set_rollback(True)


@pytest.fixture
def world(shared_world: World, db: None, settings: Any) -> World:
    settings.MEDIA_ROOT = shared_world.media
    # Webhook hosts here do not resolve in a sandbox; the address check is tested in test_webhooks.
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    return shared_world


def retro(world: World, capture_on_commit: Any) -> None:
    """A retrospective review item: the client's case, approved under a version a later one
    (in effect on its date of service) calls investigational, found by a nightly run."""
    from casemgmt.retro import services as retro_services
    from casemgmt.retro.models import RetroReviewItem, RetroSchedule

    editor, nurse = world.users[Persona.EDITOR], world.users[Persona.NURSE]
    policy = factories.policy(number="RA.01", title="Lumbar decompression")
    old = factories.publish(
        factories.draft_version(
            policy, version_label="A1", coverage_position="medically_necessary", effective_start=_days_ago(500)
        ),
        editor,
    )
    line = LineInput(code_system="CPT", code="62330", units=1, date_of_service=_days_ago(50))
    case = factories.case(
        world.users[Persona.CLIENT],
        review_type="retrospective",
        member=MEMBER,
        external_id=EXTERNAL_ID + "-R",
        service_lines=(line,),
    )
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED)],
        citations=[CitationInput(policy_version_id=old.pk)],
        rationale="Meets the policy.",
    )
    factories.publish(
        factories.draft_version(
            policy, version_label="A2", coverage_position="investigational", effective_start=_days_ago(100)
        ),
        editor,
    )
    RetroSchedule.objects.update_or_create(pk=1, defaults={"sample_percent": Decimal(100)})
    with capture_on_commit(execute=True):
        retro_services.retro_run_nightly(today=timezone.localdate() + timedelta(days=1))
    world.retro_item = RetroReviewItem.objects.get(case=case)
    # A run still queued (its planning task is never sent here), so it can be cancelled.
    world.retro_run = retro_services.retro_run_request(
        user=world.users[Persona.MANAGER],
        request=retro_services.RunRequest(policy_id=policy.pk, date_from=_days_ago(60), date_to=_days_ago(1)),
    )


def _days_ago(n: int) -> date:
    return timezone.localdate() - timedelta(days=n)


# --- request bodies: valid, so the answer is about access -------------------------------------


def _page_body(entry: Entry, world: World) -> dict[str, Any]:
    row_version = world.case.row_version
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "login": lambda: {"username": "no-such-user", "password": "not-the-password"},
        "admin:login": lambda: {"username": "no-such-user", "password": "not-the-password"},
        "admin:password_change": lambda: {"old_password": "wrong", "new_password1": "a", "new_password2": "b"},
        "case_decide": lambda: {
            "outcome_1": "approved",
            "rationale": "Meets the policy.",
            "citation_versions": [world.version.pk],
            "row_version": row_version,
        },
        "case_refer": lambda: {"summary": "Investigational flag; please review.", "row_version": row_version},
        "case_note": lambda: {"text": "Called the provider's office.", "row_version": row_version},
        "case_pend": lambda: {"needed": "The MRI report of the lumbar spine.", "row_version": row_version},
        "case_peer_to_peer": lambda: {
            "requesting_physician": "Dr. Requesting",
            "held_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
            "outcome": "discussed",
            "summary": "Discussed the imaging.",
            "row_version": row_version,
        },
        "queue": lambda: {"q": "PA-"},
        "queue_filter_save": lambda: {"name": "My expedited", "query": "urgency=expedited"},
        "case_fact": lambda: {"key": "conservative_therapy_weeks", "value": "14", "row_version": row_version},
        "case_claim": lambda: {"next": "/queue/"},
        "case_reassign": lambda: {"assignee_id": world.users[Persona.NURSE].pk, "row_version": row_version},
        "admin:policies_app_policyversion_draft_from": lambda: {"version_label": "2098-01"},
        "retro_item_resolve": lambda: {"note": "The documentation in the file supports the decision."},
        "retro_item_refer": lambda: {"note": "Investigational on that date: please correct."},
        "retro_item_correct": lambda: {
            "outcome_1": "denied",
            "reason_1": "Investigational under the policy in effect on the date of service.",
            "citation_versions": [str(world.retro_item.new_citations[0]["policy_version_id"])],
            "rationale": "Retrospective review: the service is investigational.",
        },
    }
    return bodies[entry.name]() if entry.name in bodies else {}


def _api_body(entry: Entry, world: World) -> tuple[Any, str]:
    bodies: dict[str, Callable[[], Any]] = {
        "api_cases": lambda: factories.api_case_body(external_id="EHR-MATRIX-NEW"),
        "api_case_decisions": lambda: {
            "lines": [{"service_line": 1, "outcome": "approved"}],
            "citations": [{"policy_version_id": world.version.pk}],
            "rationale": "Meets the policy.",
        },
        "api_case_information": lambda: {"clinical_notes": "Twelve weeks of physical therapy, no relief."},
        "api_case_cancel": lambda: {"reason": "Withdrawn by the requester."},
        "api_case_pend": lambda: {"needed": "The MRI report of the lumbar spine."},
        "api_case_attachments": lambda: {"file": SimpleUploadedFile("notes.pdf", PDF, content_type="application/pdf")},
        "api_webhooks": lambda: {"url": "https://hooks.example.org/pa-status"},
        "api_case_appeals": lambda: {
            "lines": [2],
            "reason": "The second level was documented in the notes sent.",
            "urgency": "standard",
            "requested_by": "provider",
        },
        "api_case_reopen": lambda: {"reason": "Clerical error: the units were misread."},
        "api_authorization_extensions": lambda: {
            "units": 3,
            "reason": "Two more sessions are needed after the first.",
            "urgency": "standard",
        },
        "api_retro_runs": lambda: {
            "policy_id": world.version.policy_id,
            "date_from": str(timezone.localdate() - timedelta(days=60)),
            "date_to": str(timezone.localdate() - timedelta(days=1)),
        },
        "api_eligibility": lambda: {
            "coverages": [
                {"member_id": "M-MATRIX-1", "line_of_business": "commercial", "coverage_start": "2026-01-01"},
                {
                    "member_id": "M-MATRIX-2",
                    "line_of_business": "medicare_advantage",
                    "plan_id": "H1234-001",
                    "coverage_start": "2026-01-01",
                    "coverage_end": "2026-12-31",
                },
            ]
        },
    }
    body = bodies[entry.name]() if entry.name in bodies else {}
    return body, "multipart" if entry.name == "api_case_attachments" else "json"


# --- admin objects ------------------------------------------------------------------------------


def _admin_object(label: str, variant: str, world: World) -> Model:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    from casemgmt.cases.models import CaseEvent, WebhookDelivery, WebhookSubscription
    from casemgmt.fhir.models import FhirClient
    from casemgmt.retro.models import RetroSchedule

    seen = {"ip_address": "192.0.2.10", "user_agent": "test", "http_accept": "*/*", "path_info": "/login/"}
    factories_by_label: dict[str, Callable[[], Model]] = {
        "policies_app.policy": lambda: world.version.policy,
        "policies_app.policyversion": lambda: world.draft if variant == "draft" else world.version,
        "policies_app.factdefinition": lambda: FactDefinition.objects.order_by("pk")[0],
        # A code of its own each time: two published rules for one code and dates would clash.
        "policies_app.requirementrule": lambda: factories.requirement_rule(
            world.users[Persona.EDITOR],
            publish=variant != "draft",
            code_start=str(10021 + RequirementRule.objects.count()),
        ),
        "casemgmt.deadlinerule": lambda: DeadlineRule.objects.order_by("pk")[0],
        "casemgmt.apitoken": lambda: world.token,
        "fhir.fhirclient": lambda: FhirClient.objects.get_or_create(
            user=world.users[Persona.CLIENT],
            defaults={"name": "Matrix EHR", "jwks_url": "https://ehr.example.com/jwks.json"},
        )[0],
        "casemgmt.webhookdelivery": lambda: WebhookDelivery.objects.create(
            subscription=WebhookSubscription.objects.get(url=OWNER_WEBHOOK),
            event=CaseEvent.objects.filter(case=world.case).order_by("pk")[0],
            payload={"event": "received", "case_number": world.case.case_number},
        ),
        "auth.user": lambda: world.users[Persona.NURSE],
        "auth.group": lambda: Group.objects.order_by("pk")[0],
        "axes.accessattempt": lambda: AccessAttempt.objects.create(
            username="someone", get_data="", post_data="", failures_since_start=1, **seen
        ),
        "axes.accesslog": lambda: AccessLog.objects.create(username="someone", **seen),
        "axes.accessfailurelog": lambda: AccessFailureLog.objects.create(username="someone", locked_out=False, **seen),
        "django_celery_beat.intervalschedule": lambda: IntervalSchedule.objects.create(every=10, period="seconds"),
        "django_celery_beat.crontabschedule": lambda: CrontabSchedule.objects.create(minute="5"),
        "django_celery_beat.solarschedule": lambda: SolarSchedule.objects.create(
            event="sunrise", latitude=10, longitude=10
        ),
        "django_celery_beat.clockedschedule": lambda: ClockedSchedule.objects.create(clocked_time=timezone.now()),
        "django_celery_beat.periodictask": lambda: PeriodicTask.objects.create(
            name="matrix-test-task",
            task="casemgmt.cases.tasks.none",
            interval=IntervalSchedule.objects.create(every=1, period="days"),
        ),
        "retro.retrorun": lambda: world.retro_run,
        "retro.retroschedule": lambda: RetroSchedule.objects.get_or_create(pk=1)[0],
        "retro.retroreviewitem": lambda: world.retro_item,
        "casemgmt.authorizationvalidityrule": lambda: AuthorizationValidityRule.objects.create(
            name="Matrix rule: 60 days", days_after=60
        ),
        "casemgmt.appealwindow": lambda: AppealWindow.objects.order_by("pk")[0],
        "casemgmt.duplicaterule": lambda: DuplicateRule.objects.order_by("pk")[0],
        "casemgmt.reviewreasoncode": lambda: ReviewReasonCode.objects.create(code="N1", display="Not necessary"),
        "casemgmt.intakesettings": lambda: IntakeSettings.objects.get_or_create(pk=1)[0],
        "casemgmt.authorization": lambda: world.authorization(),
        "casemgmt.goldcardprogramme": lambda: factories.gold_card_programme(world.users[Persona.MANAGER]),
        "casemgmt.goldcardexemption": lambda: gold_card_grant(
            user=world.users[Persona.MANAGER],
            programme_id=factories.gold_card_programme(world.users[Persona.MANAGER]).pk,
            provider_npi=factories.VALID_NPI,
            reason="Matrix test.",
        ),
    }
    return factories_by_label[label]()


def _admin_requests(entry: Entry, world: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, body) for an admin model row; a "view" row reads the list, an object and its history."""
    obj = _admin_object(entry.name, entry.variant, world)
    app, model = entry.name.split(".")
    base = f"/admin/{app}/{model}/"
    if entry.method == AdminAction.VIEW:
        return [("GET", base, {}), ("GET", f"{base}{obj.pk}/change/", {}), ("GET", f"{base}{obj.pk}/history/", {})]
    if entry.method == AdminAction.ADD:
        return [("GET", f"{base}add/", {})]
    if entry.method == AdminAction.CHANGE:
        return [("POST", f"{base}{obj.pk}/change/", {})]
    return [("GET", f"{base}{obj.pk}/delete/", {})]


# --- making the requests -------------------------------------------------------------------------


@dataclass
class Answer:
    method: str
    path: str
    status: int
    body: bytes
    location: str
    json: Any


def _content(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def _answer(method: str, path: str, response: Any) -> Answer:
    body = _content(response)
    parsed = None
    if response.get("Content-Type", "").startswith(("application/json", "application/fhir+json")):
        parsed = response.json()
    return Answer(method, path, response.status_code, body, response.get("Location", ""), parsed)


def _browser(world: World, persona: Persona) -> Client:
    browser = Client()
    if persona != Persona.ANONYMOUS:
        browser.force_login(world.users[persona])
    return browser


def _api(world: World, persona: Persona) -> APIClient:
    api = APIClient()
    if persona != Persona.ANONYMOUS:
        _, raw = api_token_create(user=world.users[persona])
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def _smart_api(world: World) -> APIClient:
    """A SMART backend client acting as the client persona, with an access token of every scope."""
    from casemgmt.fhir.auth import access_token_issue
    from casemgmt.fhir.codes import SUPPORTED_SCOPES
    from casemgmt.fhir.models import FhirClient

    client, _ = FhirClient.objects.get_or_create(
        user=world.users[Persona.CLIENT],
        defaults={"name": "Matrix EHR", "jwks_url": "https://ehr.example.com/jwks.json"},
    )
    raw, _ = access_token_issue(client=client, scopes=frozenset(SUPPORTED_SCOPES))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def ask(entry: Entry, persona: Persona, world: World) -> list[Answer]:
    """Make the row's request(s) as the persona, in a savepoint that is then rolled back."""
    answers: list[Answer] = []
    with transaction.atomic():
        if entry.surface == Surface.API:
            api = _api(world, persona)
            path = world.fill(entry.path)
            response: Any
            if entry.method == "GET":
                response = api.get(path)
            elif entry.method == "DELETE":
                response = api.delete(path)
            else:
                body, body_format = _api_body(entry, world)
                send = api.put if entry.method == "PUT" else api.post
                response = send(path, body, format=body_format)
            answers.append(_answer(entry.method, path, response))
        else:
            browser = _browser(world, persona)
            if entry.surface == Surface.ADMIN:
                requests = _admin_requests(entry, world)
            else:
                requests = [(entry.method, world.fill(entry.path), _page_body(entry, world))]
            for method, path, body in requests:
                response = browser.get(path) if method == "GET" else browser.post(path, body)
                answers.append(_answer(method, path, response))
        transaction.set_rollback(True)
    return answers


def _sign_in_page(entry: Entry, path: str) -> str:
    return "/admin/login/" if path.startswith("/admin/") else "/login/"


def problem(entry: Entry, persona: Persona, answer: Answer, world: World) -> str | None:
    """Why the answer is not what the row says, or None."""
    expected = entry.access[persona]
    got = f"{answer.status} {answer.location}".strip()
    if expected == Access.ALLOW:
        if answer.status not in entry.ok:
            return f"expected one of {entry.ok}, got {got}: {answer.body[:200]!r}"
        if answer.status in (301, 302) and answer.location.startswith(("/login/?next=", "/admin/login/?next=")):
            return f"allowed, but sent to sign in: {got}"
        return None
    if expected == Access.SIGN_IN:
        if entry.surface == Surface.API:
            if answer.status != 401:
                return f"expected 401, got {got}"
        elif answer.status != 302 or not answer.location.startswith(_sign_in_page(entry, answer.path) + "?next="):
            return f"expected a redirect to {_sign_in_page(entry, answer.path)}, got {got}"
    elif expected == Access.FORBIDDEN and answer.status != 403:
        return f"expected 403, got {got}: {answer.body[:200]!r}"
    elif expected == Access.HIDDEN and answer.status != 404:
        return f"expected 404, got {got}: {answer.body[:200]!r}"
    # A sign-in redirect's ?next= repeats the path asked for, case number included; that is the
    # user's own URL, not member data. Member data may appear nowhere in a refusal.
    location_secrets = world.member_secrets() if expected == Access.SIGN_IN else world.secrets()
    leaked = [s.decode() for s in world.secrets() if s in answer.body]
    leaked += [s.decode() for s in location_secrets if s.decode() in answer.location]
    if leaked:
        return f"the refusal ({answer.status}) gives away {leaked}"
    if entry.surface == Surface.API and not _says_why(answer.json):
        return f"an API refusal must say why in the error shape ({{'detail': ...}}); got {answer.body[:200]!r}"
    return None


def _says_why(body: Any) -> bool:
    """The v1 API's error shape, or the FHIR door's: an OperationOutcome whose issues say why."""
    if not isinstance(body, dict):
        return False
    if body.get("resourceType") == "OperationOutcome":
        return all(issue.get("diagnostics") for issue in body.get("issue", [])) and bool(body.get("issue"))
    return "detail" in body


@pytest.mark.parametrize("entry", MATRIX.entries, ids=[f"{e.key} {e.path}" for e in MATRIX.entries])
def test_each_persona_gets_what_the_matrix_says(
    entry: Entry, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    if "retro" in entry.name or "retro" in entry.path:
        retro(world, django_capture_on_commit_callbacks)
    problems: list[str] = []
    for persona in Persona:
        for answer in ask(entry, persona, world):
            found = problem(entry, persona, answer, world)
            if found:
                problems.append(f"{persona.value}: {answer.method} {answer.path}: {found}")
    assert not problems, f"{entry.key} ({entry.rule})\n" + "\n".join(problems)


def test_an_allowed_case_read_shows_the_member_data(world: World) -> None:
    """The other side of the leak check: where the matrix allows, the data is really there."""
    page = _browser(world, Persona.NURSE).get(f"/cases/{world.case.case_number}/")
    api = _api(world, Persona.CLIENT).get(f"/api/v1/cases/{world.case.case_number}")
    attachments = _api(world, Persona.NURSE).get(f"/api/v1/cases/{world.case.case_number}/attachments")
    download = _api(world, Persona.CLIENT).get(
        f"/api/v1/cases/{world.case.case_number}/attachments/{world.attachment.pk}"
    )
    assert MEMBER.last_name.encode() in page.content
    assert EXTERNAL_ID.encode() in api.content
    assert b"mri.pdf" in attachments.content
    assert _content(download) == PDF


@pytest.mark.parametrize("persona", list(Persona))
def test_the_case_list_shows_the_case_only_to_those_who_may_see_it(world: World, persona: Persona) -> None:
    response = _api(world, persona).get("/api/v1/cases")
    if persona == Persona.ANONYMOUS:
        assert response.status_code == 401
        return
    assert response.status_code == 200
    assert (world.case.case_number.encode() in response.content) == (persona in SEES_CASE)


@pytest.mark.parametrize("persona", list(Persona))
def test_the_webhook_list_shows_only_the_callers_own(world: World, persona: Persona) -> None:
    response = _api(world, persona).get("/api/v1/webhooks")
    assert (OWNER_WEBHOOK.encode() in response.content) == (persona == Persona.CLIENT)


@pytest.mark.parametrize("persona", [p for p in Persona if p != Persona.CLIENT])
def test_denied_writes_change_nothing(world: World, persona: Persona) -> None:
    """Whoever is refused a write to the client's case leaves it exactly as it was."""
    before = Case.objects.values().get(pk=world.case.pk)
    decisions = Decision.objects.count()
    refused = 0
    for entry in MATRIX.entries:
        if entry.method != "POST" or "{case}" not in entry.path or entry.access[persona] not in DENIALS:
            continue
        response: Any
        if entry.surface == Surface.API:
            body, body_format = _api_body(entry, world)
            response = _api(world, persona).post(world.fill(entry.path), body, format=body_format)
        else:
            response = _browser(world, persona).post(world.fill(entry.path), _page_body(entry, world))
        assert response.status_code in (302, 401, 403, 404), (entry.key, response.status_code)
        refused += 1
    assert refused, "the persona was refused nothing: the test proves nothing"
    assert Case.objects.values().get(pk=world.case.pk) == before
    assert Decision.objects.count() == decisions
    assert Attachment.objects.filter(case=world.case).count() == 1


# --- the matrix is complete -----------------------------------------------------------------------

STANDARD_ADMIN_VIEWS = ("changelist", "add", "history", "delete", "change")


@dataclass(frozen=True)
class Route:
    route: str
    name: str  # namespaced: "admin:index"; "" when unnamed
    callback: Any


def _routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns: list[Any], prefix: str, namespace: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
                walk(pattern.url_patterns, route, inner)
            elif isinstance(pattern, URLPattern):
                found.append(Route(route, f"{namespace}{pattern.name}" if pattern.name else "", pattern.callback))

    walk(get_resolver().url_patterns, "", "")
    return found


def _registered_models() -> dict[str, str]:
    """admin URL prefix ("admin/policies_app/policyversion/") -> model label."""
    return {f"admin/{m._meta.app_label}/{m._meta.model_name}/": m._meta.label_lower for m in admin.site._registry}


def _is_standard_model_view(route: Route) -> bool:
    for prefix, label in _registered_models().items():
        if route.route.startswith(prefix):
            app, model = label.split(".")
            standard = {f"admin:{app}_{model}_{view}" for view in STANDARD_ADMIN_VIEWS}
            # The unnamed "<id>/" pattern only redirects to the change view.
            return route.name in standard or route.name == ""
    return False


def test_every_url_pattern_has_a_row() -> None:
    named = {e.name for e in MATRIX.entries if e.surface != Surface.ADMIN}
    missing = []
    for route in _routes():
        if _is_standard_model_view(route):
            continue  # covered by the model's admin rows
        name = route.name or ("admin catch-all" if route.route.startswith("admin/") else route.route)
        if name not in named:
            missing.append(f"{route.route} ({name})")
    assert not missing, f"URL patterns with no row in casemgmt/security/access_matrix.py: {missing}"


def test_every_row_names_a_url_that_exists() -> None:
    names = {r.name for r in _routes()} | {"admin catch-all"}
    stale = sorted({e.name for e in MATRIX.entries if e.surface != Surface.ADMIN} - names)
    assert not stale, f"rows for URLs that no longer exist: {stale}"


def test_every_api_method_has_a_row() -> None:
    """Each method an API view implements is a row; a row's method is one the view implements."""
    in_urls: set[tuple[str, str]] = set()
    for route in _routes():
        if route.route.startswith(("api/v1/", "fhir/r4/", "cds-services")):
            view = getattr(route.callback, "view_class", None)
            assert view is not None, f"{route.route} is not a class-based API view"
            for method in view.http_method_names:
                if method not in ("options", "head") and hasattr(view, method):
                    in_urls.add((method.upper(), route.name))
    in_matrix = {(e.method, e.name) for e in MATRIX.by_surface(Surface.API)}
    assert in_urls == in_matrix, f"missing rows: {in_urls - in_matrix}; stale rows: {in_matrix - in_urls}"


def test_every_admin_model_has_a_row() -> None:
    registered = {m._meta.label_lower for m in admin.site._registry}
    rows: dict[str, set[str]] = {}
    for entry in ADMIN_MODELS:
        rows.setdefault(entry.name, set()).add(entry.method)
    missing = sorted(
        f"{label} {action.value}"
        for label in registered
        for action in AdminAction
        if action.value not in rows.get(label, set())
    )
    stale = sorted(set(rows) - registered)
    assert not missing, f"admin models without rows in casemgmt/security/access_matrix.py: {missing}"
    assert not stale, f"rows for models no longer in the admin: {stale}"


def _first_allowed(entry: Entry) -> Persona:
    """A persona the row allows, signed in if possible, so the method (not the role) is what is refused."""
    allowed = [p for p in Persona if entry.access[p] == Access.ALLOW]
    signed_in = [p for p in allowed if p != Persona.ANONYMOUS]
    return (signed_in or allowed or [Persona.ANONYMOUS])[0]


NOT_LISTED = {
    Surface.PAGE: ("GET", "POST"),  # what HTML forms send; the admin is Django's own and not probed
    Surface.API: ("GET", "POST", "PUT", "PATCH", "DELETE"),
}


def _unlisted() -> list[tuple[Entry, str]]:
    listed: dict[tuple[Surface, str, str], set[str]] = {}
    for entry in MATRIX.entries:
        if entry.surface == Surface.ADMIN or entry.name.startswith("admin"):
            continue
        path_key = entry.path.split("?")[0]
        listed.setdefault((entry.surface, entry.name, path_key), set()).add(entry.method)
    out = []
    for (surface, name, _path), methods in listed.items():
        entry = next(e for e in MATRIX.entries if (e.surface, e.name) == (surface, name))
        out += [(entry, method) for method in NOT_LISTED[surface] if method not in methods]
    return out


@pytest.mark.parametrize(("entry", "method"), _unlisted(), ids=[f"{m} {e.path}" for e, m in _unlisted()])
def test_methods_not_in_the_matrix_are_not_allowed(
    entry: Entry, method: str, world: World, django_capture_on_commit_callbacks: Any
) -> None:
    if "retro" in entry.name or "retro" in entry.path:
        retro(world, django_capture_on_commit_callbacks)
    persona = _first_allowed(entry)
    path = world.fill(entry.path)
    response: Any
    if entry.surface == Surface.API and entry.access[persona] != Access.ALLOW and path.startswith("/fhir/r4/"):
        # No persona here holds the FHIR door's credential: ask as a SMART backend client.
        response = _smart_api(world).generic(method, path)
    elif entry.surface == Surface.API:
        response = _api(world, persona).generic(method, path)
    else:
        browser = _browser(world, persona)
        response = browser.get(path) if method == "GET" else browser.post(path, {})
    assert response.status_code == 405, f"{method} {path} as {persona.value}: {response.status_code}"


# --- the doc ---------------------------------------------------------------------------------------


def test_docs_security_carries_the_matrix_as_it_is() -> None:
    from casemgmt.security.management.commands.access_matrix import DOC, current_doc_table, rendered_table

    assert current_doc_table(DOC.read_text()) == rendered_table(), (
        "docs/security.md's access matrix differs from casemgmt/security/access_matrix.py: "
        "run `.venv/bin/python manage.py access_matrix --write`"
    )


def test_rows_are_well_formed() -> None:
    for entry in MATRIX.entries:
        assert entry.ok, entry.key
        assert entry.rule.strip(), entry.key
        if entry.surface == Surface.ADMIN:
            assert entry.method in {a.value for a in AdminAction}, entry.key
        else:
            # PUT and DELETE only where a standard asks for them (a FHIR Subscription is changed
            # with PUT and ended with DELETE).
            assert entry.method in {"GET", "POST", "PUT", "DELETE"}, entry.key
