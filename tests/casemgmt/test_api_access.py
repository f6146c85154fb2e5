"""The API's access matrix, written as data and tested exhaustively: every endpoint x every persona.

One case exists, submitted by `owner` (an integration client), with one attachment, and the owner
has a webhook. Each persona then makes the one request an endpoint takes, with a body that is
valid, so the answer reflects access alone. A denial is 401, 403 or 404 and carries none of the
case's data; a 200 on a list is allowed to show only what the persona may see; nothing is a 5xx.

A new API endpoint (or method) without a row in ENDPOINTS fails `test_every_api_endpoint_is_in_the_matrix`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from casemgmt import services
from casemgmt.models import Attachment, Case, Decision
from tests import factories

pytestmark = pytest.mark.django_db

PERSONAS = ("owner", "other_client", "nurse", "physician", "manager", "editor", "outsider", "anonymous")
# The conftest fixture behind each signed-in persona.
PERSONA_FIXTURES = {
    "owner": "integration_client",
    "other_client": "other_client",
    "nurse": "nurse",
    "physician": "physician",
    "manager": "manager",
    "editor": "editor",
    "outsider": "outsider",
}
# Who may see the owner's case at all (reviewers by role, the client that submitted it).
SEES_CASE = frozenset({"owner", "nurse", "physician", "manager"})
DENIALS = frozenset({401, 403, 404})

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass(frozen=True)
class World:
    case: Case
    attachment_id: int
    policy_version_id: int


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # formatted with {case} and {attachment}
    body: Callable[[World], Any] | None = None
    multipart: bool = False
    expected: dict[str, int] = field(default_factory=dict)
    # What a successful answer must contain, to prove it carries the data and not just a 200.
    shows: Callable[[World], bytes] | None = None

    def url(self, world: World) -> str:
        return self.path.format(case=world.case.case_number, attachment=world.attachment_id)


def _row(**statuses: int) -> dict[str, int]:
    assert set(statuses) == set(PERSONAS), f"a matrix row must name every persona: {sorted(statuses)}"
    return statuses


# Reading the case: its submitter and reviewers; everyone else is told it does not exist.
READ_CASE = _row(
    owner=200,
    other_client=404,
    nurse=200,
    physician=200,
    manager=200,
    editor=404,
    outsider=404,
    anonymous=401,
)
# Any signed-in account gets a list, filtered to what it may see (tested by SEES_CASE).
ANY_ACCOUNT = _row(
    owner=200,
    other_client=200,
    nurse=200,
    physician=200,
    manager=200,
    editor=200,
    outsider=200,
    anonymous=401,
)
CLIENTS_ONLY_201 = _row(
    owner=201,
    other_client=201,
    nurse=403,
    physician=403,
    manager=403,
    editor=403,
    outsider=403,
    anonymous=401,
)

ENDPOINTS: dict[str, Endpoint] = {
    "cases_list": Endpoint("GET", "/api/v1/cases", expected=ANY_ACCOUNT),  # filtered: see SEES_CASE
    "cases_submit": Endpoint(
        "POST",
        "/api/v1/cases",
        body=lambda w: factories.api_case_body(external_id="EHR-ACCESS-2"),
        expected=CLIENTS_ONLY_201,
    ),
    "cases_retrieve": Endpoint("GET", "/api/v1/cases/{case}", expected=READ_CASE, shows=lambda w: b"EHR-ACCESS-1"),
    "cases_decisions_list": Endpoint("GET", "/api/v1/cases/{case}/decisions", expected=READ_CASE),
    "cases_decisions_create": Endpoint(
        "POST",
        "/api/v1/cases/{case}/decisions",
        body=lambda w: {
            "lines": [{"service_line": 1, "outcome": "approved"}],
            "citations": [{"policy_version_id": w.policy_version_id}],
            "rationale": "Meets the policy.",
        },
        # Nurse and physician reviewers decide; a manager sees the case but does not decide it.
        expected=_row(
            owner=403,
            other_client=404,
            nurse=201,
            physician=201,
            manager=403,
            editor=404,
            outsider=404,
            anonymous=401,
        ),
    ),
    "cases_information_add": Endpoint(
        "POST",
        "/api/v1/cases/{case}/information",
        body=lambda w: {"clinical_notes": "Twelve weeks of physical therapy, no relief."},
        # Only the client that submitted the request adds information to it.
        expected=_row(
            owner=200,
            other_client=404,
            nurse=403,
            physician=403,
            manager=403,
            editor=404,
            outsider=404,
            anonymous=401,
        ),
    ),
    "cases_cancel": Endpoint(
        "POST",
        "/api/v1/cases/{case}/cancel",
        body=lambda w: {"reason": "Withdrawn by the requester."},
        # The submitting client withdraws; a manager cancels; reviewers do neither.
        expected=_row(
            owner=200,
            other_client=404,
            nurse=403,
            physician=403,
            manager=200,
            editor=404,
            outsider=404,
            anonymous=401,
        ),
    ),
    "cases_pend": Endpoint(
        "POST",
        "/api/v1/cases/{case}/pend",
        body=lambda w: {"needed": "The MRI report of the lumbar spine."},
        expected=_row(
            owner=403,
            other_client=404,
            nurse=200,
            physician=200,
            manager=403,
            editor=404,
            outsider=404,
            anonymous=401,
        ),
    ),
    "cases_attachments_list": Endpoint(
        "GET", "/api/v1/cases/{case}/attachments", expected=READ_CASE, shows=lambda w: b"mri.pdf"
    ),
    "cases_attachments_create": Endpoint(
        "POST",
        "/api/v1/cases/{case}/attachments",
        body=lambda w: {"file": SimpleUploadedFile("notes.pdf", PDF, content_type="application/pdf")},
        multipart=True,
        # The submitting client and nurse or physician reviewers add documents.
        expected=_row(
            owner=201,
            other_client=404,
            nurse=201,
            physician=201,
            manager=403,
            editor=404,
            outsider=404,
            anonymous=401,
        ),
    ),
    "cases_attachments_download": Endpoint(
        "GET", "/api/v1/cases/{case}/attachments/{attachment}", expected=READ_CASE, shows=lambda w: PDF
    ),
    # Which policy governs a service is not case data: every role may ask, an account without one may not.
    "coverage_lookup": Endpoint(
        "GET",
        "/api/v1/coverage?code=62330&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial",
        expected=_row(
            owner=200,
            other_client=200,
            nurse=200,
            physician=200,
            manager=200,
            editor=200,
            outsider=403,
            anonymous=401,
        ),
    ),
    "webhooks_list": Endpoint("GET", "/api/v1/webhooks", expected=ANY_ACCOUNT),
    "webhooks_create": Endpoint(
        "POST",
        "/api/v1/webhooks",
        body=lambda w: {"url": "https://hooks.example.org/pa-status"},
        expected=CLIENTS_ONLY_201,
    ),
}

OWNER_WEBHOOK = "https://ehr.example.com/owner-hook"
MATRIX = [(name, persona) for name in ENDPOINTS for persona in PERSONAS]


@pytest.fixture(autouse=True)
def _isolated(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    # Webhook hosts in this file do not resolve in a sandbox; the check is tested in test_webhooks.
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


@pytest.fixture
def world(integration_client: User, physician: User, editor: User) -> World:
    version = factories.publish(factories.draft_version(), editor)
    case = factories.case(integration_client, external_id="EHR-ACCESS-1")
    upload = SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf")
    attachment = services.attachment_add(case_id=case.pk, user=integration_client, upload=upload)
    services.webhook_subscribe(client=integration_client, url=OWNER_WEBHOOK)
    return World(case=case, attachment_id=attachment.pk, policy_version_id=version.pk)


def api_for(request: pytest.FixtureRequest, persona: str) -> APIClient:
    api = APIClient()
    if persona != "anonymous":
        user: User = request.getfixturevalue(PERSONA_FIXTURES[persona])
        _, raw = services.api_token_create(user=user)
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def call(api: APIClient, endpoint: Endpoint, world: World) -> Any:
    url = endpoint.url(world)
    if endpoint.method == "GET":
        return api.get(url)
    body = endpoint.body(world) if endpoint.body else {}
    return api.post(url, body, format="multipart" if endpoint.multipart else "json")


def _content(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


@pytest.mark.parametrize(("endpoint_name", "persona"), MATRIX, ids=[f"{e}-{p}" for e, p in MATRIX])
def test_access(request: pytest.FixtureRequest, world: World, endpoint_name: str, persona: str) -> None:
    endpoint = ENDPOINTS[endpoint_name]
    expected = endpoint.expected[persona]
    api = api_for(request, persona)

    response = call(api, endpoint, world)
    content = _content(response)

    assert response.status_code == expected, (
        f"{endpoint.method} {endpoint.path} as {persona}: expected {expected}, got {response.status_code}: "
        f"{content[:300]!r}"
    )
    case_number = world.case.case_number.encode()
    if expected in DENIALS:
        # A refusal says why, in the one error shape, and gives nothing of the case away.
        assert case_number not in content
        assert b"Ada" not in content  # the member's name
        assert "detail" in response.json()
    elif endpoint.shows is not None:
        assert endpoint.shows(world) in content
    if endpoint_name == "cases_list":
        # The list answers 200 to everyone signed in; only those who may see the case find it there.
        assert (case_number in content) == (persona in SEES_CASE)
    if endpoint_name == "webhooks_list":
        assert (OWNER_WEBHOOK.encode() in content) == (persona == "owner")


@pytest.mark.parametrize("persona", [p for p in PERSONAS if p != "owner"])
def test_denied_writes_change_nothing(request: pytest.FixtureRequest, world: World, persona: str) -> None:
    """Whoever is refused a write to the owner's case leaves it exactly as it was."""
    api = api_for(request, persona)
    before = Case.objects.values().get(pk=world.case.pk)
    for name, endpoint in ENDPOINTS.items():
        if endpoint.method == "POST" and "{case}" in endpoint.path and endpoint.expected[persona] in DENIALS:
            response = call(api, endpoint, world)
            assert response.status_code in DENIALS, (name, response.status_code)
    assert Case.objects.values().get(pk=world.case.pk) == before
    assert not Decision.objects.exists()
    assert Attachment.objects.filter(case=world.case).count() == 1


def _api_routes() -> list[tuple[str, str]]:
    """(method, route) for every view under /api/v1/, from the URLconf itself."""
    routes: list[tuple[str, str]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                view = getattr(pattern.callback, "view_class", None)
                assert view is not None, f"{route} is not a class-based API view"
                for method in view.http_method_names:
                    if method not in ("options", "head") and hasattr(view, method):
                        routes.append((method.upper(), route))

    walk(get_resolver().url_patterns, "")
    return routes


def _normalise(path: str) -> str:
    """/api/v1/cases/{case}/attachments/{attachment}?x -> api/v1/cases/<>/attachments/<>."""
    parts = path.split("?")[0].lstrip("/").split("/")
    return "/".join("<>" if part.startswith(("{", "<")) else part for part in parts)


def test_every_api_endpoint_is_in_the_matrix() -> None:
    in_urls = {(method, _normalise(route)) for method, route in _api_routes()}
    in_matrix = {(e.method, _normalise(e.path)) for e in ENDPOINTS.values()}
    assert in_urls == in_matrix, f"missing from the matrix: {in_urls - in_matrix}; stale: {in_matrix - in_urls}"
