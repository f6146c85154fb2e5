"""The FHIR door's personas: an EHR registered as a SMART backend client (the integration
client's user), its signing key, and an API client holding its access token."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from casemgmt.fhir.auth import access_token_issue
from casemgmt.fhir.codes import SUPPORTED_SCOPES
from casemgmt.fhir.models import FhirClient

SHARED_EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "fhir" / "pas-examples"
KEY_ID = "ehr-key-1"


def shared_example(name: str) -> dict[str, Any]:
    """One of the Da Vinci PAS examples in ../shared (tests only; skipped where it is absent)."""
    path = SHARED_EXAMPLES / name
    if not path.exists():
        pytest.skip(f"../shared/fhir/pas-examples/{name} is not beside the project")
    return json.loads(path.read_text())


@pytest.fixture
def ehr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def public_jwks(key: ec.EllipticCurvePrivateKey, kid: str = KEY_ID) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": kid, "alg": "ES384", "use": "sig"}]}


def signed_jwt(key: ec.EllipticCurvePrivateKey, *, client_id: str, audience: str, **claims: Any) -> str:
    """A JWT as an EHR signs it: a client assertion, or a CDS Hooks call's token."""
    now = int(time.time())
    body = {"iss": client_id, "sub": client_id, "aud": audience, "exp": now + 240, "jti": uuid.uuid4().hex, **claims}
    return jwt.encode(body, key, algorithm="ES384", headers={"kid": KEY_ID})


@pytest.fixture
def ehr(integration_client: User, ehr_key: ec.EllipticCurvePrivateKey) -> FhirClient:
    """The EHR registered as a SMART backend client, acting as the integration client."""
    return FhirClient.objects.create(
        name="Example EHR", user=integration_client, jwks=public_jwks(ehr_key), line_of_business="commercial"
    )


@pytest.fixture
def other_ehr(other_client: User) -> FhirClient:
    other_key = ec.generate_private_key(ec.SECP384R1())
    return FhirClient.objects.create(
        name="Another EHR", user=other_client, jwks=public_jwks(other_key), line_of_business="commercial"
    )


def api_for(client: FhirClient, scopes: frozenset[str] = frozenset(SUPPORTED_SCOPES)) -> APIClient:
    raw, _token = access_token_issue(client=client, scopes=scopes)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


@pytest.fixture
def fhir_api(ehr: FhirClient) -> APIClient:
    """The EHR's calls, with an access token that holds every scope we grant."""
    return api_for(ehr)


@pytest.fixture
def other_fhir_api(other_ehr: FhirClient) -> APIClient:
    return api_for(other_ehr)
