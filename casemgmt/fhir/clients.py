"""Registering SMART backend clients (an operator, `manage.py fhir_client_register`) and
deactivating them (an operator or a manager in the admin). A client acts as an
integration-client user, which signs in with nothing but the client's signed JWTs."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import jwt
from django.contrib.auth.models import Group, User
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils.text import slugify

from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.fhir.auth import CLIENT_ALGORITHMS, KEY_TYPES
from casemgmt.fhir.models import FhirClient, new_client_id
from casemgmt.kernel.errors import NotFoundError, ValidationFailed
from casemgmt.kernel.roles import Role, has_role
from policies_app.models import LineOfBusiness

# The algorithm each key type signs with here.
ALGORITHM_OF = {kty: algorithm for algorithm, kty in KEY_TYPES.items()}
# JWK members that hold private key material (RFC 7518 section 6): a client registers its
# public key only.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
EC_CURVE = "P-384"  # ES384 signs on P-384 (RFC 7518 section 3.4)
RSA_MIN_BITS = 2048
MAX_KEYS = 20
NAME_MAX = 200
JWKS_URL_MAX = 500


def _key_problems(key: Any, seen_kids: set[str]) -> list[str]:
    if not isinstance(key, dict):
        return ["must be a JSON object (a JWK)"]
    kty = key.get("kty")
    if kty not in ALGORITHM_OF:
        return [f"kty must be RSA or EC (keys for {' or '.join(CLIENT_ALGORITHMS)}), not {kty!r}"]
    private = [name for name in PRIVATE_MEMBERS if name in key]
    if private:
        return [f"holds private key material ({', '.join(private)}): register the public key only"]
    algorithm = ALGORITHM_OF[kty]
    problems = []
    kid = key.get("kid")
    if not isinstance(kid, str) or not kid.strip():
        problems.append("needs a kid: the client's JWTs name their signing key by it")
    elif kid in seen_kids:
        problems.append(f"kid {kid!r} is used by another key of the set")
    else:
        seen_kids.add(kid)
    if key.get("alg", algorithm) != algorithm:
        problems.append(f"alg must be {algorithm} for an {kty} key")
    if key.get("use", "sig") != "sig":
        problems.append("use must be sig")
    if kty == "EC" and key.get("crv") != EC_CURVE:
        problems.append(f"an EC key must be on {EC_CURVE} for ES384")
    if problems:
        return problems
    try:
        parsed = jwt.PyJWK(key, algorithm=algorithm)
    except jwt.PyJWTError as exc:
        return [f"is not a valid {kty} public key: {exc}"]
    if kty == "RSA" and parsed.key.key_size < RSA_MIN_BITS:
        return [f"an RSA key must have at least {RSA_MIN_BITS} bits"]
    return []


def jwks_problems(jwks: Any) -> dict[str, list[str]]:
    """What makes `jwks` unusable as a client's registered JWK set, by field path; empty when usable."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        return {"jwks": ['must be a JWK set: a JSON object with a non-empty "keys" list']}
    if len(keys) > MAX_KEYS:
        return {"jwks.keys": [f"at most {MAX_KEYS} keys"]}
    seen_kids: set[str] = set()
    problems = {f"jwks.keys[{i}]": found for i, key in enumerate(keys) if (found := _key_problems(key, seen_kids))}
    return problems


def jwks_url_problem(url: str) -> str | None:
    if len(url) > JWKS_URL_MAX:
        return f"at most {JWKS_URL_MAX} characters"
    try:
        URLValidator(schemes=["https"])(url)
    except ValidationError:
        return "must be an https URL"
    if urlsplit(url).username is not None:
        return "must not carry credentials"
    return None


def _client_user(username: str | None, *, name: str, client_id: str) -> tuple[User, bool]:
    """The integration-client user the client acts as: `username`'s account when it is one,
    else a new account (named `username`, or after the client), that has no password."""
    if username is not None:
        existing = User.objects.filter(username=username).first()
        if existing is not None:
            problem = None
            if not has_role(existing, Role.INTEGRATION_CLIENT):
                problem = f"{username!r} is not an active integration-client account"
            elif FhirClient.objects.filter(user=existing).exists():
                problem = f"{username!r} already acts for another FHIR client"
            if problem:
                raise ValidationFailed({"username": [problem]})
            return existing, False
    account = User.objects.create_user(username=username or f"fhir-{slugify(name)[:40] or 'client'}-{client_id[:8]}")
    account.groups.add(Group.objects.get_or_create(name=Role.INTEGRATION_CLIENT.value)[0])
    return account, True


def fhir_client_register(
    *, name: str, jwks: dict[str, Any] | None, jwks_url: str, line_of_business: str, username: str | None
) -> FhirClient:
    """Register a SMART backend client with its public JWK set (`jwks`) or the https URL where it
    publishes one (`jwks_url`), acting as `username`'s integration-client account or a new one.
    ValidationFailed, by field, on bad input; nothing is stored then."""
    name = name.strip()
    jwks_url = jwks_url.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["is required"]
    elif len(name) > NAME_MAX:
        errors["name"] = [f"at most {NAME_MAX} characters"]
    if jwks and jwks_url:
        errors["jwks"] = ["give the JWK set or the URL that serves it, not both"]
    elif jwks:
        errors.update(jwks_problems(jwks))
    elif jwks_url:
        if problem := jwks_url_problem(jwks_url):
            errors["jwks_url"] = [problem]
    else:
        errors["jwks"] = ["the client's public JWK set, or the https URL that serves it, is required"]
    if line_of_business and line_of_business not in LineOfBusiness.values:
        errors["line_of_business"] = [f"must be one of {', '.join(LineOfBusiness.values)}"]
    if username is not None:
        try:
            UnicodeUsernameValidator()(username)
        except ValidationError as exc:
            errors["username"] = list(exc.messages)
        if not username or len(username) > 150:
            errors["username"] = ["must be 1 to 150 characters"]
    if errors:
        raise ValidationFailed(errors)
    client_id = new_client_id()
    with transaction.atomic():
        user, created = _client_user(username, name=name, client_id=client_id)
        if created:
            audit_record(
                action=AuditAction.CREATE,
                object_type=AuditObject.USER,
                object_id=user.pk,
                changes={
                    "username": (None, user.get_username()),
                    "role": (None, Role.INTEGRATION_CLIENT.value),
                    "password": (None, "none (signs in with its FHIR client's JWTs only)"),
                },
            )
        client = FhirClient.objects.create(
            client_id=client_id,
            name=name,
            user=user,
            jwks=jwks or {},
            jwks_url=jwks_url,
            line_of_business=line_of_business,
        )
        audit_record(
            action=AuditAction.CREATE,
            object_type=AuditObject.FHIR_CLIENT,
            object_id=client.client_id,
            changes={
                "name": (None, name),
                "user": (None, user.get_username()),
                "key_ids": (None, [key["kid"] for key in client.jwks.get("keys", [])]),
                "jwks_url": (None, jwks_url),
                "line_of_business": (None, line_of_business),
            },
        )
    return client


def fhir_client_deactivate(*, client_id: str) -> FhirClient:
    """Refuse the client from now on: its access tokens and JWTs stop working at once.
    Deactivating an inactive client changes nothing."""
    with transaction.atomic():
        client = FhirClient.objects.select_for_update().filter(client_id=client_id).first()
        if client is None:
            raise NotFoundError(f"no FHIR client {client_id!r}", field="client_id")
        if client.active:
            client.active = False
            client.save(update_fields=["active"])
            audit_record(
                action=AuditAction.CHANGE,
                object_type=AuditObject.FHIR_CLIENT,
                object_id=client.client_id,
                changes={"active": (True, False)},
            )
    return client
