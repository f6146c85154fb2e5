"""Registering and deactivating SMART backend clients (casemgmt/fhir/clients.py)."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.contrib.auth.models import User

from casemgmt.audit.models import AuditAction, AuditEvent, AuditObject
from casemgmt.fhir.clients import fhir_client_deactivate, fhir_client_register
from casemgmt.fhir.models import FhirClient
from casemgmt.kernel.errors import NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, has_role
from tests.casemgmt.fhir.conftest import public_jwks

pytestmark = pytest.mark.django_db


def ec_jwks(curve: ec.EllipticCurve | None = None) -> dict[str, Any]:
    return public_jwks(ec.generate_private_key(curve or ec.SECP384R1()))


def register(**overrides: Any) -> FhirClient:
    values: dict[str, Any] = {
        "name": "Example EHR",
        "jwks": ec_jwks(),
        "jwks_url": "",
        "line_of_business": "commercial",
        "username": None,
    }
    return fhir_client_register(**{**values, **overrides})


def problems_of(**overrides: Any) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as refused:
        register(**overrides)
    assert FhirClient.objects.count() == 0
    return refused.value.errors


def test_a_client_gets_a_new_integration_client_account_without_a_password() -> None:
    client = register()

    assert has_role(client.user, Role.INTEGRATION_CLIENT)
    assert not client.user.has_usable_password()
    assert not client.user.is_staff


def test_a_client_may_act_as_an_existing_integration_client(integration_client: User) -> None:
    client = register(username=integration_client.username)

    assert client.user == integration_client


def test_a_client_named_username_that_does_not_exist_gets_that_account() -> None:
    client = register(username="ehr.fhir")

    assert client.user.username == "ehr.fhir"
    assert has_role(client.user, Role.INTEGRATION_CLIENT)


def test_an_account_in_another_role_cannot_be_a_client(nurse: User) -> None:
    assert "username" in problems_of(username=nurse.username)


def test_an_account_that_already_acts_for_a_client_cannot_act_for_another(integration_client: User) -> None:
    register(username=integration_client.username)

    with pytest.raises(ValidationFailed) as refused:
        register(username=integration_client.username)

    assert "another FHIR client" in refused.value.errors["username"][0]
    assert FhirClient.objects.count() == 1


def test_the_registration_is_audited_with_its_key_ids() -> None:
    client = register()

    row = AuditEvent.objects.get(object_type=AuditObject.FHIR_CLIENT, action=AuditAction.CREATE)
    assert row.object_id == client.client_id
    assert row.changes["key_ids"] == {"old": None, "new": ["ehr-key-1"]}


def test_an_https_jwks_url_is_accepted() -> None:
    client = register(jwks=None, jwks_url="https://ehr.example.com/.well-known/jwks.json")

    assert client.jwks_url == "https://ehr.example.com/.well-known/jwks.json"


def test_an_rsa_key_of_2048_bits_is_accepted() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))

    assert register(jwks={"keys": [{**public, "kid": "rsa-1"}]}).jwks["keys"][0]["kid"] == "rsa-1"


def test_an_http_jwks_url_is_refused() -> None:
    assert "https" in problems_of(jwks=None, jwks_url="http://ehr.example.com/jwks.json")["jwks_url"][0]


def test_keys_are_required() -> None:
    assert "jwks" in problems_of(jwks=None, jwks_url="")


def test_a_jwk_set_and_a_url_together_are_refused() -> None:
    assert "not both" in problems_of(jwks_url="https://ehr.example.com/jwks.json")["jwks"][0]


def test_a_set_without_keys_is_refused() -> None:
    assert "keys" in problems_of(jwks={"keys": []})["jwks"][0]


def test_a_private_key_is_refused() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    private = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key))

    problems = problems_of(jwks={"keys": [{**private, "kid": "k"}]})

    assert "private key material (d)" in problems["jwks.keys[0]"][0]


def test_a_symmetric_key_is_refused() -> None:
    assert "kty" in problems_of(jwks={"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k"}]})["jwks.keys[0]"][0]


def test_a_key_without_a_kid_is_refused() -> None:
    jwks = ec_jwks()
    del jwks["keys"][0]["kid"]

    assert "kid" in problems_of(jwks=jwks)["jwks.keys[0]"][0]


def test_two_keys_with_one_kid_are_refused() -> None:
    jwks = {"keys": [*ec_jwks()["keys"], *ec_jwks()["keys"]]}

    assert "used by another key" in problems_of(jwks=jwks)["jwks.keys[1]"][0]


def test_an_ec_key_off_p384_is_refused() -> None:
    jwks = public_jwks(ec.generate_private_key(ec.SECP256R1()))
    jwks["keys"][0].pop("alg")

    assert "P-384" in " ".join(problems_of(jwks=jwks)["jwks.keys[0]"])


def test_a_key_for_another_algorithm_is_refused() -> None:
    jwks = ec_jwks()
    jwks["keys"][0]["alg"] = "ES256"

    assert "ES384" in problems_of(jwks=jwks)["jwks.keys[0]"][0]


def test_a_short_rsa_key_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))

    assert "2048" in problems_of(jwks={"keys": [{**public, "kid": "short"}]})["jwks.keys[0]"][0]


def test_a_malformed_key_is_refused() -> None:
    jwks = ec_jwks()
    jwks["keys"][0]["x"] = "not-a-coordinate"

    assert "not a valid EC public key" in problems_of(jwks=jwks)["jwks.keys[0]"][0]


def test_an_unknown_line_of_business_is_refused() -> None:
    assert "line_of_business" in problems_of(line_of_business="dental")


def test_a_blank_name_is_refused() -> None:
    assert "name" in problems_of(name="  ")


def test_an_invalid_username_is_refused() -> None:
    assert "username" in problems_of(username="has spaces")


def test_deactivating_a_client_is_recorded() -> None:
    client = register()

    fhir_client_deactivate(client_id=client.client_id)

    client.refresh_from_db()
    assert not client.active
    row = AuditEvent.objects.get(object_type=AuditObject.FHIR_CLIENT, action=AuditAction.CHANGE)
    assert row.changes == {"active": {"old": True, "new": False}}


def test_deactivating_twice_changes_nothing_more() -> None:
    client = register()
    fhir_client_deactivate(client_id=client.client_id)

    fhir_client_deactivate(client_id=client.client_id)

    assert AuditEvent.objects.filter(object_type=AuditObject.FHIR_CLIENT, action=AuditAction.CHANGE).count() == 1


def test_deactivating_an_unknown_client_is_refused() -> None:
    with pytest.raises(NotFoundError):
        fhir_client_deactivate(client_id="no-such-client")
