"""SMART Backend Services: the token endpoint, the configuration, and the access tokens at the
FHIR door (casemgmt/fhir/auth.py, casemgmt/fhir/smart_views.py)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.fhir import auth
from casemgmt.fhir.auth import access_token_issue, client_of
from casemgmt.fhir.clients import fhir_client_deactivate, fhir_client_register
from casemgmt.fhir.codes import CLIENT_ASSERTION_TYPE_JWT, SUPPORTED_SCOPES
from casemgmt.fhir.http import FhirView
from casemgmt.fhir.models import FhirAssertion, FhirClient
from casemgmt.security.services import api_token_create
from tests.casemgmt.fhir.conftest import KEY_ID, public_jwks, signed_jwt

pytestmark = pytest.mark.django_db

TOKEN_PATH = "/fhir/r4/auth/token"
TOKEN_URL = f"http://testserver{TOKEN_PATH}"
PROJECT = Path(__file__).resolve().parents[3]


def token_form(assertion: str, **overrides: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": CLIENT_ASSERTION_TYPE_JWT,
        "client_assertion": assertion,
        "scope": "system/Claim.write system/Claim.read",
        **overrides,
    }


def post_token(form: dict[str, str] | str) -> Any:
    body = form if isinstance(form, str) else urlencode(form)
    return Client().post(TOKEN_PATH, body, content_type="application/x-www-form-urlencoded")


def assertion_for(client: FhirClient, key: Any, **claims: Any) -> str:
    return signed_jwt(key, client_id=client.client_id, audience=TOKEN_URL, **claims)


def refused_because(response: Any, error: str, status: int) -> str:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["error"] == error, body
    return str(body["error_description"])


class ClaimReadProbe(FhirView):
    """A FHIR endpoint that needs system/Claim.read and says which client called."""

    scope = ("Claim", "read")

    def get(self, request: Request) -> Response:
        return Response({"client": client_of(request).client_id})


def call_probe(raw_token: str) -> Any:
    request = APIRequestFactory().get("/fhir/r4/probe", HTTP_AUTHORIZATION=f"Bearer {raw_token}")
    response = ClaimReadProbe.as_view()(request)
    response.render()
    return response


def rsa_client(user: User) -> tuple[FhirClient, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    client = FhirClient.objects.create(name="RSA EHR", user=user, jwks={"keys": [{**public, "kid": KEY_ID}]})
    return client, key


def rsa_assertion(client: FhirClient, key: rsa.RSAPrivateKey, algorithm: str) -> str:
    now = int(time.time())
    claims = {"iss": client.client_id, "sub": client.client_id, "aud": TOKEN_URL, "exp": now + 240, "jti": str(now)}
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": KEY_ID})


# --- a token, and what it opens ------------------------------------------------------------------


def test_a_valid_assertion_gets_a_token_that_opens_a_fhir_endpoint(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key)))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == auth.ACCESS_TOKEN_SECONDS
    probe = call_probe(body["access_token"])
    assert probe.status_code == 200, probe.content
    assert json.loads(probe.content) == {"client": ehr.client_id}


def test_the_token_answer_may_not_be_cached(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key)))

    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


def test_a_grant_is_recorded_as_the_clients_sign_in(ehr: FhirClient, ehr_key: Any) -> None:
    post_token(token_form(assertion_for(ehr, ehr_key)))

    row = AuditEvent.objects.get(action=AuditAction.SIGN_IN, object_type=AuditObject.FHIR_CLIENT)
    assert row.object_id == ehr.client_id
    assert row.actor == ehr.user


def test_an_rs384_assertion_signed_by_a_registered_rsa_key_gets_a_token(integration_client: User) -> None:
    client, key = rsa_client(integration_client)

    response = post_token(token_form(rsa_assertion(client, key, "RS384")))

    assert response.status_code == 200, response.content


def test_a_client_that_publishes_its_jwks_at_a_url_gets_a_token(integration_client: User, ehr_key: Any) -> None:
    with jwks_server(public_jwks(ehr_key)) as url:
        # Registered directly: the service takes https URLs only, and this test server is http.
        client = FhirClient.objects.create(name="URL EHR", user=integration_client, jwks_url=url)
        response = post_token(token_form(assertion_for(client, ehr_key)))

    assert response.status_code == 200, response.content


def test_a_client_whose_jwks_url_does_not_answer_is_refused(integration_client: User, ehr_key: Any) -> None:
    with jwks_server(public_jwks(ehr_key)) as url:
        pass  # the server is gone: nothing answers at the URL any more
    client = FhirClient.objects.create(name="URL EHR", user=integration_client, jwks_url=url)

    response = post_token(token_form(assertion_for(client, ehr_key)))

    assert "could not be read from its registered URL" in refused_because(response, "invalid_client", 401)


def test_only_the_requested_scopes_this_server_supports_are_granted(ehr: FhirClient, ehr_key: Any) -> None:
    requested = "system/Claim.write system/Patient.read user/*.* system/Questionnaire.read"

    response = post_token(token_form(assertion_for(ehr, ehr_key), scope=requested))

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == "system/Claim.write system/Questionnaire.read"


def test_a_request_for_no_supported_scope_is_refused_with_invalid_scope(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key), scope="system/Patient.read launch"))

    assert "supported" in refused_because(response, "invalid_scope", 400)


# --- refused assertions ----------------------------------------------------------------------------


def test_an_assertion_for_another_audience_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    assertion = signed_jwt(ehr_key, client_id=ehr.client_id, audience="https://elsewhere.example/token")

    response = post_token(token_form(assertion))

    assert TOKEN_URL in refused_because(response, "invalid_client", 401)


def test_an_expired_assertion_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key, exp=int(time.time()) - 10)))

    assert "expired" in refused_because(response, "invalid_client", 401)


@pytest.mark.parametrize("lifetime", [3600, 10**20])
def test_an_assertion_living_longer_than_five_minutes_is_refused(ehr: FhirClient, ehr_key: Any, lifetime: int) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key, exp=int(time.time()) + lifetime)))

    assert "at most 300 seconds" in refused_because(response, "invalid_client", 401)


def test_a_replayed_assertion_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    assertion = assertion_for(ehr, ehr_key)
    assert post_token(token_form(assertion)).status_code == 200

    response = post_token(token_form(assertion))

    assert "already used" in refused_because(response, "invalid_client", 401)


def test_an_unknown_client_is_refused(ehr_key: Any) -> None:
    assertion = signed_jwt(ehr_key, client_id="no-such-client", audience=TOKEN_URL)

    response = post_token(token_form(assertion))

    assert "not a registered, active client" in refused_because(response, "invalid_client", 401)


def test_a_deactivated_client_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    fhir_client_deactivate(client_id=ehr.client_id)

    response = post_token(token_form(assertion_for(ehr, ehr_key)))

    assert "not a registered, active client" in refused_because(response, "invalid_client", 401)


def test_an_hs256_assertion_is_refused(ehr: FhirClient) -> None:
    now = int(time.time())
    claims = {"iss": ehr.client_id, "sub": ehr.client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "hs"}
    assertion = jwt.encode(claims, "a shared secret of thirty-two bytes!", algorithm="HS256", headers={"kid": KEY_ID})

    response = post_token(token_form(assertion))

    assert "RS384 or ES384" in refused_because(response, "invalid_client", 401)


def test_an_rs256_assertion_is_refused(integration_client: User) -> None:
    client, key = rsa_client(integration_client)

    response = post_token(token_form(rsa_assertion(client, key, "RS256")))

    assert "RS384 or ES384" in refused_because(response, "invalid_client", 401)


def test_an_assertion_signed_by_a_key_not_in_the_jwks_is_refused(ehr: FhirClient) -> None:
    stranger = ec.generate_private_key(ec.SECP384R1())  # signs with the registered key's kid

    response = post_token(token_form(assertion_for(ehr, stranger)))

    assert "signature" in refused_because(response, "invalid_client", 401)


def test_an_assertion_naming_a_kid_the_jwks_lacks_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    now = int(time.time())
    claims = {"iss": ehr.client_id, "sub": ehr.client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "k"}
    assertion = jwt.encode(claims, ehr_key, algorithm="ES384", headers={"kid": "rotated-away"})

    response = post_token(token_form(assertion))

    assert "'rotated-away'" in refused_because(response, "invalid_client", 401)


def test_an_assertion_whose_sub_is_not_its_iss_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key, sub="someone-else")))

    assert "sub" in refused_because(response, "invalid_client", 401)


def test_an_assertion_that_is_not_a_jwt_is_refused(ehr: FhirClient) -> None:
    response = post_token(token_form("not.a.jwt"))

    assert "not a JWT" in refused_because(response, "invalid_client", 401)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "odd",
    [
        {"header": b"[1]"},
        {"header": b"not json"},
        {"payload": b"[1, 2]"},
        {"claims": {"exp": "tomorrow"}},
        {"payload": b'{"iss": 12345}'},
        {"header": b'{"alg":"ES384","kid":7}'},
        {"claims": {"jti": {"a": 1}}},
    ],
)
def test_an_odd_assertion_is_refused_as_invalid_client(ehr: FhirClient, ehr_key: Any, odd: dict[str, Any]) -> None:
    if "header" in odd or "payload" in odd:
        header = odd.get("header", b'{"alg":"ES384","kid":"ehr-key-1"}')
        assertion = f"{b64(header)}.{b64(odd.get('payload', b'{}'))}.{b64(b'sig')}"
    else:
        now = int(time.time())
        claims = {"iss": ehr.client_id, "sub": ehr.client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "j"}
        assertion = jwt.encode({**claims, **odd["claims"]}, ehr_key, algorithm="ES384", headers={"kid": KEY_ID})

    refused_because(post_token(token_form(assertion)), "invalid_client", 401)


# --- refused requests ------------------------------------------------------------------------------


def test_an_unsupported_grant_type_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    response = post_token(token_form(assertion_for(ehr, ehr_key), grant_type="authorization_code"))

    assert "client_credentials" in refused_because(response, "unsupported_grant_type", 400)


@pytest.mark.parametrize("field", ["grant_type", "client_assertion_type", "client_assertion", "scope"])
def test_a_missing_parameter_is_named(ehr: FhirClient, ehr_key: Any, field: str) -> None:
    form = token_form(assertion_for(ehr, ehr_key))
    del form[field]

    response = post_token(form)

    assert field in refused_because(response, "invalid_request", 400)


def test_a_parameter_sent_twice_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    body = urlencode(token_form(assertion_for(ehr, ehr_key))) + "&scope=system%2FClaim.read"

    response = post_token(body)

    assert "scope" in refused_because(response, "invalid_request", 400)


def test_another_client_assertion_type_is_refused(ehr: FhirClient, ehr_key: Any) -> None:
    form = token_form(assertion_for(ehr, ehr_key), client_assertion_type="urn:example:saml")

    response = post_token(form)

    assert CLIENT_ASSERTION_TYPE_JWT in refused_because(response, "invalid_client", 401)


def test_a_json_body_is_refused_as_an_invalid_request(ehr: FhirClient, ehr_key: Any) -> None:
    response = Client().post(
        TOKEN_PATH, json.dumps(token_form(assertion_for(ehr, ehr_key))), content_type="application/json"
    )

    assert "x-www-form-urlencoded" in refused_because(response, "invalid_request", 400)


def test_the_token_endpoint_is_throttled_per_address(ehr: FhirClient, ehr_key: Any, settings: Any) -> None:
    settings.API_ANON_RATE_LIMIT = "2/min"
    for _ in range(2):
        post_token(token_form("not.a.jwt"))

    response = post_token(token_form(assertion_for(ehr, ehr_key)))

    refused_because(response, "invalid_request", 429)
    assert int(response["Retry-After"]) > 0


def test_used_assertions_long_expired_are_purged_by_a_grant(ehr: FhirClient, ehr_key: Any) -> None:
    FhirAssertion.objects.create(client=ehr, jti="old", expires_at=timezone.now() - timedelta(hours=2))
    FhirAssertion.objects.create(client=ehr, jti="recent", expires_at=timezone.now() - timedelta(minutes=5))

    post_token(token_form(assertion_for(ehr, ehr_key)))

    assert not FhirAssertion.objects.filter(jti="old").exists()
    assert FhirAssertion.objects.filter(jti="recent").exists()


# --- access tokens at the FHIR door ---------------------------------------------------------------


def test_an_expired_access_token_is_refused_with_an_operation_outcome(
    ehr: FhirClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "ACCESS_TOKEN_SECONDS", -1)
    raw, _token = access_token_issue(client=ehr, scopes=frozenset(SUPPORTED_SCOPES))

    response = call_probe(raw)

    assert response.status_code == 401
    outcome = json.loads(response.content)
    assert outcome["resourceType"] == "OperationOutcome"
    assert "expired" in outcome["issue"][0]["diagnostics"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_without_the_needed_scope_is_refused(ehr: FhirClient) -> None:
    raw, _token = access_token_issue(client=ehr, scopes=frozenset({"system/Claim.write"}))

    response = call_probe(raw)

    assert response.status_code == 403
    assert "system/Claim.read" in json.loads(response.content)["issue"][0]["diagnostics"]


def test_a_deactivated_clients_access_token_is_refused(ehr: FhirClient) -> None:
    raw, _token = access_token_issue(client=ehr, scopes=frozenset(SUPPORTED_SCOPES))
    fhir_client_deactivate(client_id=ehr.client_id)

    assert call_probe(raw).status_code == 401


def test_a_v1_token_still_opens_the_v1_api(integration_client: User) -> None:
    _token, raw = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert api.get("/api/v1/cases").status_code == 200


def test_a_v1_token_is_refused_at_the_fhir_door(integration_client: User) -> None:
    _token, raw = api_token_create(user=integration_client)

    response = call_probe(raw)

    assert response.status_code == 401
    assert json.loads(response.content)["resourceType"] == "OperationOutcome"


def test_a_fhir_access_token_is_refused_by_the_v1_api(ehr: FhirClient) -> None:
    raw, _token = access_token_issue(client=ehr, scopes=frozenset(SUPPORTED_SCOPES))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    assert api.get("/api/v1/cases").status_code == 401


# --- discovery -------------------------------------------------------------------------------------


def test_the_smart_configuration_advertises_the_token_endpoint_and_how_to_use_it() -> None:
    response = Client().get("/fhir/r4/.well-known/smart-configuration")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "token_endpoint": TOKEN_URL,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(SUPPORTED_SCOPES),
        "capabilities": ["client-confidential-asymmetric", "permission-v1"],
    }


# --- the integrator's script (docs/fhir/make_assertion.py) -------------------------------------------


def run_script(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(PROJECT / "docs" / "fhir" / "make_assertion.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_integrators_script_makes_a_key_and_an_assertion_that_gets_a_token(tmp_path: Path) -> None:
    run_script("keygen", "--out", str(tmp_path / "key.pem"), "--jwks", str(tmp_path / "jwks.json"))
    client = fhir_client_register(
        name="Script EHR",
        jwks=json.loads((tmp_path / "jwks.json").read_text()),
        jwks_url="",
        line_of_business="commercial",
        username=None,
    )

    assertion = run_script(
        "assertion", "--key", str(tmp_path / "key.pem"), "--client-id", client.client_id, "--token-url", TOKEN_URL
    )
    response = post_token(token_form(assertion))

    assert response.status_code == 200, response.content
    assert call_probe(response.json()["access_token"]).status_code == 200


# --- a JWK set served over HTTP ----------------------------------------------------------------------


@contextmanager
def jwks_server(jwks: dict[str, Any]) -> Iterator[str]:
    """Serves `jwks` at http://127.0.0.1:<port>/jwks.json while the block runs."""
    body = json.dumps(jwks).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
