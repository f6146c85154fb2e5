"""`manage.py import_policy PATH... [--as USERNAME]`: payer policy documents become draft versions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.importer import ImportRefused
from policies_app.models import PolicyVersion
from policies_app.services import policy_import


class Command(BaseCommand):
    help = (
        "Import Wellmark or Blue Cross and Blue Shield of Minnesota policy documents as draft policy "
        "versions. Prints created / unchanged / refused for each; exits non-zero if any was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="PATH", help="UTF-8 text of a payer policy document")
        parser.add_argument(
            "--as",
            dest="username",
            default=None,
            help="The policy editor recorded as creating the drafts (default: the first active policy editor).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = self._editor(options["username"])
        refused = 0
        for raw_path in options["paths"]:
            path = Path(raw_path)
            try:
                version, created = policy_import(path_or_bytes=path, filename=path.name, user=user)
            except ImportRefused as exc:
                refused += 1
                self.stdout.write(f"refused   {raw_path}: {exc.reason}")
                continue
            except PermissionDeniedError as exc:
                # The same for every document, so stop rather than print it once per file.
                raise CommandError(exc.message) from exc
            self.stdout.write(f"{'created' if created else 'unchanged':<9} {raw_path}: {_describe(version)}")
        if refused:
            raise CommandError(f"{refused} of {len(options['paths'])} documents refused", returncode=1)

    def _editor(self, username: str | None) -> User:
        users = get_user_model().objects
        if username is not None:
            named = users.filter(username=username).first()
            if named is None:
                raise CommandError(f"no user named {username!r}")
            return named
        first = users.filter(is_active=True, groups__name=Role.POLICY_EDITOR.value).order_by("pk").first()
        if first is None:
            raise CommandError(
                f"no active user is in the {Role.POLICY_EDITOR.value} group; add one or pass --as USERNAME"
            )
        return first


def _describe(version: PolicyVersion) -> str:
    policy = version.policy
    text = (
        f"{policy.payer} policy {policy.number or '(no number)'} version {version.version_label} "
        f"({version.get_status_display().lower()}, id {version.pk})"
    )
    if version.missing_fields:
        # Only the field names here; the full sentences are on the draft in the admin.
        fields = "; ".join(item.split(":", 1)[0] for item in version.missing_fields)
        text += f"; editor must fill in: {fields}"
    return text
