from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casemgmt.kernel.errors import DomainError
from casemgmt.security.services import api_token_create


class Command(BaseCommand):
    help = "Print a new API token for USERNAME. It is shown once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--label", default="", help="What the token is for, e.g. the EHR's name.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = get_user_model().objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        try:
            token, raw = api_token_create(user=user, label=options["label"])
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(raw)
        self.stderr.write(
            f"token {token.prefix}… created for {user.get_username()}; store it now, it is not shown again"
        )
