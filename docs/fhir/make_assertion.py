#!/usr/bin/env python3
"""Make a signing key and the signed client assertions of SMART Backend Services, as an EHR
integrator does. Needs only PyJWT with its crypto extra: `pip install "pyjwt[crypto]"`.

1. Once: a P-384 key pair, the private key kept by you, the public JWK set sent to the plan::

       python make_assertion.py keygen --out key.pem --jwks jwks.json

   The plan registers it (`manage.py fhir_client_register "Your EHR" --jwks jwks.json`) and
   tells you your client id.

2. Whenever you need an access token (they last five minutes): a fresh assertion, posted to the
   token endpoint::

       TOKEN_URL=https://pa.example.org/fhir/r4/auth/token
       ASSERTION=$(python make_assertion.py assertion --key key.pem --client-id "$CLIENT_ID" --token-url "$TOKEN_URL")
       curl -s "$TOKEN_URL" \\
         -d grant_type=client_credentials \\
         -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer \\
         -d client_assertion="$ASSERTION" \\
         --data-urlencode "scope=system/Claim.write system/Claim.read"

   The answer's `access_token` goes in `Authorization: Bearer ...` on every FHIR call.

An RSA key (RS384) works too: `assertion` signs with whichever kind of key it is given.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

# SMART asks that an assertion expire no more than five minutes after it is made.
ASSERTION_SECONDS = 300


def public_jwk(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> dict[str, Any]:
    """The public half of `key` as a JWK, with its RFC 7638 thumbprint as `kid`."""
    required: tuple[str, ...]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        jwk: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        required, algorithm = ("crv", "kty", "x", "y"), "ES384"
    else:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        required, algorithm = ("e", "kty", "n"), "RS384"
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": thumbprint, "alg": algorithm, "use": "sig"}


def keygen(out: Path, jwks: Path) -> None:
    if out.exists():
        sys.exit(f"{out} exists: refusing to overwrite a private key")
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    # Readable by its owner only, from the moment it exists.
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    jwks.write_text(json.dumps({"keys": [public_jwk(key)]}, indent=2) + "\n")
    print(f"private key: {out} (keep it secret)\npublic JWK set: {jwks} (send it to the plan)", file=sys.stderr)


def assertion(key_path: Path, client_id: str, token_url: str) -> str:
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        sys.exit(f"{key_path} is neither an EC nor an RSA private key")
    jwk = public_jwk(key)
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "iat": now,
        "exp": now + ASSERTION_SECONDS,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, key, algorithm=jwk["alg"], headers={"kid": jwk["kid"], "typ": "JWT"})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make_key = commands.add_parser("keygen", help="make a P-384 key pair and its public JWK set")
    make_key.add_argument("--out", type=Path, required=True, help="where to write the private key (PEM)")
    make_key.add_argument("--jwks", type=Path, required=True, help="where to write the public JWK set (JSON)")
    sign = commands.add_parser("assertion", help="print a signed client assertion for the token endpoint")
    sign.add_argument("--key", type=Path, required=True, help="the private key (PEM)")
    sign.add_argument("--client-id", required=True, help="the client id the plan gave you")
    sign.add_argument("--token-url", required=True, help="the token endpoint's URL, exactly as you post to it")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        keygen(args.out, args.jwks)
    else:
        print(assertion(args.key, args.client_id, args.token_url))


if __name__ == "__main__":
    main()
