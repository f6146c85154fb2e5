"""`manage.py fhir_client_register` and the clients' admin."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from casemgmt.fhir.models import FhirClient
from casemgmt.security.services import roles_sync_permissions
from tests.casemgmt.fhir.conftest import public_jwks

pytestmark = pytest.mark.django_db


def jwks_file(tmp_path: Path, content: str | None = None) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(
        content if content is not None else json.dumps(public_jwks(ec.generate_private_key(ec.SECP384R1())))
    )
    return path


def run(*args: str) -> str:
    out = StringIO()
    call_command("fhir_client_register", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_registers_a_client_and_prints_its_id_and_the_token_url(tmp_path: Path) -> None:
    printed = run("Example EHR", "--jwks", str(jwks_file(tmp_path)), "--line-of-business", "commercial")

    client = FhirClient.objects.get()
    assert printed.splitlines()[0] == client.client_id
    assert "/fhir/r4/auth/token" in printed
    assert client.line_of_business == "commercial"


def test_the_command_takes_an_https_jwks_url() -> None:
    run("Example EHR", "--jwks", "https://ehr.example.com/jwks.json")

    assert FhirClient.objects.get().jwks_url == "https://ehr.example.com/jwks.json"


def test_the_command_reuses_an_integration_client_account(tmp_path: Path, integration_client: User) -> None:
    run("Example EHR", "--jwks", str(jwks_file(tmp_path)), "--username", integration_client.username)

    assert FhirClient.objects.get().user == integration_client


def test_a_missing_jwks_file_is_named_and_nothing_is_stored(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="cannot read"):
        run("Example EHR", "--jwks", str(tmp_path / "absent.json"))

    assert not FhirClient.objects.exists()


def test_a_jwks_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not JSON"):
        run("Example EHR", "--jwks", str(jwks_file(tmp_path, "-----BEGIN PUBLIC KEY-----")))

    assert not FhirClient.objects.exists()


def test_a_private_key_in_the_file_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    from jwt.algorithms import ECAlgorithm

    private = json.loads(ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1())))
    path = jwks_file(tmp_path, json.dumps({"keys": [{**private, "kid": "k"}]}))

    with pytest.raises(CommandError, match=r"jwks.keys\[0\]: holds private key material"):
        run("Example EHR", "--jwks", str(path))

    assert not FhirClient.objects.exists()
    assert not User.objects.exists()


def test_an_http_jwks_url_is_refused() -> None:
    with pytest.raises(CommandError, match="jwks_url: must be an https URL"):
        run("Example EHR", "--jwks", "http://ehr.example.com/jwks.json")


# --- the admin -----------------------------------------------------------------------------------


@pytest.fixture
def staff_manager(manager: User) -> User:
    roles_sync_permissions()
    manager.is_staff = True
    manager.save()
    return manager


def test_a_manager_deactivates_a_client_in_the_admin(staff_manager: User, ehr: FhirClient) -> None:
    browser = Client()
    browser.force_login(staff_manager)

    response = browser.post(
        "/admin/fhir/fhirclient/", {"action": "deactivate", "_selected_action": [ehr.pk]}, follow=True
    )

    assert response.status_code == 200
    ehr.refresh_from_db()
    assert not ehr.active


def test_the_admin_shows_a_clients_keys_read_only(staff_manager: User, ehr: FhirClient) -> None:
    browser = Client()
    browser.force_login(staff_manager)

    page = browser.get(f"/admin/fhir/fhirclient/{ehr.pk}/change/")

    assert page.status_code == 200
    assert b"ehr-key-1" in page.content
    assert b'name="jwks"' not in page.content
