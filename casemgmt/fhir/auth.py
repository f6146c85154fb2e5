"""SMART Backend Services for the FHIR door: a registered client proves itself with a JWT it
signs (RS384 or ES384) and gets a short-lived access token with `system/*` scopes; each request
carries that token and acts as the client's integration-client user.

Our access tokens are JWTs we sign ourselves (HS256, a key derived from SECRET_KEY), so checking
one needs no query; the client row is read on each request, so a deactivated client is refused
at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from casemgmt.audit import context as audit_context
from casemgmt.audit.models import AuditAction, AuditObject
from casemgmt.audit.services import audit_record
from casemgmt.fhir.codes import CLIENT_ASSERTION_TYPE_JWT, GRANT_CLIENT_CREDENTIALS, SUPPORTED_SCOPES
from casemgmt.fhir.models import FhirAssertion, FhirClient

ACCESS_TOKEN_SECONDS = 300
ACCESS_TOKEN_ALGORITHM = "HS256"
ACCESS_TOKEN_ISSUER = "casemgmt-fhir"
# What a client may sign with (SMART Backend Services asks for RS384 and ES384), and the JWK key
# type that verifies each.
CLIENT_ALGORITHMS = ("RS384", "ES384")
KEY_TYPES = {"RS384": "RSA", "ES384": "EC"}
# A client's JWT may live at most this long (SMART: "no more than five minutes in the future").
CLIENT_JWT_MAX_SECONDS = 300
JWKS_FETCH_SECONDS = 5
# A used jti is kept this long after its JWT expired (beyond any clock skew), then purged.
ASSERTION_KEEP = timedelta(hours=1)


class ClientJwtRefused(Exception):
    """A client's signed JWT that does not prove who it is; the message says why, for the client."""


class TokenRefused(Exception):
    """A token request refused as RFC 6749 section 5.2 says: `error` is the code, the message
    (`description`) tells the client what to fix."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    @property
    def status_code(self) -> int:
        return 401 if self.error == "invalid_client" else 400


def _client_key(jwks: Mapping[str, Any], *, kid: str, algorithm: str) -> jwt.PyJWK | None:
    """The public key `kid` of a JWK set, bound to `algorithm` (never the algorithm a key would
    guess for itself: an RSA JWK without `alg` reads as RS256); None when the set has none."""
    keys = jwks.get("keys")
    for data in keys if isinstance(keys, list) else []:
        if not isinstance(data, dict) or data.get("kid") != kid or data.get("kty") != KEY_TYPES[algorithm]:
            continue
        if data.get("alg", algorithm) != algorithm or data.get("use", "sig") != "sig":
            continue
        try:
            return jwt.PyJWK(data, algorithm=algorithm)
        except jwt.PyJWTError:
            continue
    return None


def _published_jwks(url: str) -> Mapping[str, Any]:
    """The JWK set a client publishes at its registered URL, fetched now (a rotated key is seen
    at once; token requests come once per access token, every few minutes)."""
    try:
        data = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=JWKS_FETCH_SECONDS).fetch_data()
    except (jwt.PyJWKClientError, ValueError, OSError) as exc:
        raise ClientJwtRefused(f"the client's JWK set could not be read from its registered URL: {exc}") from None
    if not isinstance(data, dict):
        raise ClientJwtRefused("the client's registered URL does not serve a JWK set")
    return data


def client_jwt_verify(
    *, token: str, audience: str, issuer_is_subject: bool = True
) -> tuple[FhirClient, dict[str, Any]]:
    """The active client that signed `token` (its `iss` is the client id) for `audience`, and the
    token's claims; ClientJwtRefused saying why otherwise. Used for SMART client assertions and
    for the JWT an EHR sends with a CDS Hooks call. A `jti` is accepted once."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise ClientJwtRefused("not a JWT") from None
    algorithm = header.get("alg")
    if algorithm not in CLIENT_ALGORITHMS:
        raise ClientJwtRefused(f"the JWT must be signed with {' or '.join(CLIENT_ALGORITHMS)}, not {algorithm!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise ClientJwtRefused("the JWT's header must name its signing key (kid)")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or not client_id:
        raise ClientJwtRefused("the JWT must name the client id in iss")
    client = FhirClient.objects.select_related("user").filter(client_id=client_id, active=True).first()
    if client is None or not client.user.is_active:
        raise ClientJwtRefused(f"{client_id!r} is not a registered, active client")
    key = _client_key(client.jwks or _published_jwks(client.jwks_url), kid=kid, algorithm=algorithm)
    if key is None:
        raise ClientJwtRefused(f"the client's JWK set has no {KEY_TYPES[algorithm]} key with kid {kid!r}")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=client_id,
            options={
                "require": ["iss", "aud", "exp", "jti", *(["sub"] if issuer_is_subject else [])],
                "enforce_minimum_key_length": True,
            },
        )
    except jwt.ExpiredSignatureError:
        raise ClientJwtRefused("the JWT has expired") from None
    except jwt.InvalidAudienceError:
        raise ClientJwtRefused(f"the JWT's aud must be {audience}") from None
    except jwt.PyJWTError as exc:
        raise ClientJwtRefused(f"the JWT's signature or claims are not valid: {exc}") from None
    if issuer_is_subject and claims.get("sub") != client_id:
        raise ClientJwtRefused("the JWT's sub must be its iss, the client id")
    # Compared as numbers first: a date far enough ahead is no datetime at all.
    if float(claims["exp"]) > timezone.now().timestamp() + CLIENT_JWT_MAX_SECONDS + 60:
        raise ClientJwtRefused(f"the JWT's exp must be at most {CLIENT_JWT_MAX_SECONDS} seconds ahead")
    expires_at = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    try:
        with transaction.atomic():
            FhirAssertion.objects.create(client=client, jti=str(claims["jti"])[:255], expires_at=expires_at)
    except IntegrityError:
        raise ClientJwtRefused("this JWT (its jti) was already used") from None
    return client, claims


def _access_token_key() -> bytes:
    return salted_hmac("casemgmt.fhir.access-token", "fhir", secret=settings.SECRET_KEY, algorithm="sha256").digest()


@dataclass(frozen=True)
class AccessToken:
    client: FhirClient
    scopes: frozenset[str]
    expires_in: int


def scopes_granted(requested: str) -> frozenset[str]:
    """The scopes of `requested` (space-separated) that this server grants."""
    return frozenset(scope for scope in requested.split() if scope in SUPPORTED_SCOPES)


def access_token_issue(*, client: FhirClient, scopes: frozenset[str]) -> tuple[str, AccessToken]:
    """A signed access token for `client` with `scopes`, valid ACCESS_TOKEN_SECONDS."""
    now = timezone.now()
    claims = {
        "iss": ACCESS_TOKEN_ISSUER,
        "sub": client.client_id,
        "scope": " ".join(sorted(scopes)),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ACCESS_TOKEN_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    raw = jwt.encode(claims, _access_token_key(), algorithm=ACCESS_TOKEN_ALGORITHM)
    return raw, AccessToken(client=client, scopes=scopes, expires_in=ACCESS_TOKEN_SECONDS)


TOKEN_PARAMETERS = ("grant_type", "client_assertion_type", "client_assertion", "scope")


def access_token_grant(*, params: Mapping[str, list[str]], audience: str) -> tuple[str, AccessToken]:
    """The token request of SMART Backend Services (RFC 6749 4.4, the client authenticated by an
    RFC 7523 JWT assertion whose `aud` is `audience`, the token endpoint's URL): an access token
    with the requested scopes this server grants. TokenRefused with the RFC's error otherwise.
    The grant is recorded as the client's sign-in."""
    repeated = sorted(name for name, values in params.items() if len(values) > 1)
    if repeated:
        raise TokenRefused("invalid_request", f"each parameter may be sent once; repeated: {', '.join(repeated)}")
    values = {name: (params.get(name) or [""])[0].strip() for name in TOKEN_PARAMETERS}
    if not values["grant_type"]:
        raise TokenRefused("invalid_request", "grant_type is required")
    if values["grant_type"] != GRANT_CLIENT_CREDENTIALS:
        raise TokenRefused("unsupported_grant_type", f"grant_type must be {GRANT_CLIENT_CREDENTIALS}")
    missing = [name for name in TOKEN_PARAMETERS if not values[name]]
    if missing:
        raise TokenRefused("invalid_request", f"required: {', '.join(missing)}")
    if values["client_assertion_type"] != CLIENT_ASSERTION_TYPE_JWT:
        raise TokenRefused("invalid_client", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE_JWT}")
    scopes = scopes_granted(values["scope"])
    if not scopes:
        raise TokenRefused(
            "invalid_scope", f"none of the requested scopes is granted here; supported: {' '.join(SUPPORTED_SCOPES)}"
        )
    with transaction.atomic():
        try:
            client, _claims = client_jwt_verify(token=values["client_assertion"], audience=audience)
        except ClientJwtRefused as exc:
            raise TokenRefused("invalid_client", f"client_assertion: {exc}") from None
        raw, token = access_token_issue(client=client, scopes=scopes)
        audit_record(
            action=AuditAction.SIGN_IN,
            object_type=AuditObject.FHIR_CLIENT,
            object_id=client.client_id,
            user=client.user,
            detail={"scope": " ".join(sorted(scopes)), "expires_in": token.expires_in},
        )
    # Used jtis long expired can no longer be replayed. Purged here, where requests come once per
    # access token, rather than on every CDS Hooks call: one indexed DELETE.
    FhirAssertion.objects.filter(expires_at__lt=timezone.now() - ASSERTION_KEEP).delete()
    return raw, token


def access_token_read(raw: str) -> AccessToken:
    """The client and scopes of a token we issued; AuthenticationFailed when it is not one, has
    expired, or its client is no longer active."""
    try:
        claims = jwt.decode(
            raw,
            _access_token_key(),
            algorithms=[ACCESS_TOKEN_ALGORITHM],
            issuer=ACCESS_TOKEN_ISSUER,
            options={"require": ["exp", "sub", "scope"]},
        )
    except jwt.ExpiredSignatureError:
        raise exceptions.AuthenticationFailed("The access token has expired: request a new one.") from None
    except jwt.InvalidTokenError:
        raise exceptions.AuthenticationFailed("The access token is not one this server issued.") from None
    client = FhirClient.objects.select_related("user").filter(client_id=claims["sub"], active=True).first()
    if client is None or not client.user.is_active:
        raise exceptions.AuthenticationFailed("The client of this access token is not active.")
    return AccessToken(client=client, scopes=frozenset(str(claims["scope"]).split()), expires_in=0)


class SmartBackendAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <access token from /fhir/r4/auth/token>`."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, AccessToken] | None:
        header = authentication.get_authorization_header(request).decode("latin-1")
        keyword, _, raw = header.partition(" ")
        # RFC 7235: the scheme is case-insensitive.
        if keyword.lower() != self.keyword.lower() or not raw.strip():
            return None
        token = access_token_read(raw.strip())
        audit_context.with_detail(fhir_client=token.client.client_id)
        return token.client.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="fhir"'


def scope_allows(scopes: frozenset[str], resource: str, access: str) -> bool:
    """Whether `scopes` allow `access` ("read" or "write") to `resource` (system/ scopes only)."""
    return f"system/{resource}.{access}" in scopes or f"system/*.{access}" in scopes


def client_of(request: Request) -> FhirClient:
    token = request.auth
    if not isinstance(token, AccessToken):
        raise exceptions.NotAuthenticated("A SMART backend access token is required.")
    return token.client
