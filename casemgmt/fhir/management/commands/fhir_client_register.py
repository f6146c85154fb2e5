from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from casemgmt.fhir.clients import fhir_client_register
from casemgmt.kernel.errors import DomainError


class Command(BaseCommand):
    help = (
        "Register a SMART backend client (an EHR) by its public JWK set and print its client id. "
        "--jwks is a file holding the JWK set, or the https URL where the client publishes it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The client's name, e.g. the EHR and the organisation.")
        parser.add_argument("--jwks", required=True, help="A JWK set file, or the https URL that serves it.")
        parser.add_argument(
            "--username",
            default=None,
            help="An integration-client account the client acts as (its v1 requests are then the same "
            "client's); a new account when absent.",
        )
        parser.add_argument(
            "--line-of-business",
            default="",
            help="The line of business of its requests when neither the Coverage nor eligibility says.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["jwks"].strip()
        jwks: dict[str, Any] | None = None
        jwks_url = ""
        if source.lower().startswith(("https://", "http://")):
            jwks_url = source
        else:
            try:
                jwks = json.loads(Path(source).read_text(encoding="utf-8"))
            except OSError as exc:
                raise CommandError(f"--jwks: cannot read {source}: {exc.strerror or exc}") from exc
            except ValueError as exc:
                raise CommandError(f"--jwks: {source} is not JSON: {exc}") from exc
            if not isinstance(jwks, dict):
                raise CommandError(f'--jwks: {source} must hold a JWK set, a JSON object with "keys"')
        try:
            client = fhir_client_register(
                name=options["name"],
                jwks=jwks,
                jwks_url=jwks_url,
                line_of_business=options["line_of_business"],
                username=options["username"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(client.client_id)
        self.stdout.write(f"token URL: {reverse('fhir:token')} (on this server's https address)")
        self.stderr.write(
            f"{client.name} registered, acting as {client.user.get_username()}; its assertions' iss and sub "
            "are the client id, their aud the token URL."
        )
