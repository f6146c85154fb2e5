"""`manage.py import_policy FILE... [--dry-run] [--json] [--payer NAME] [--as USERNAME]`.

Payer policy documents (plain text, saved web pages, text PDFs) become draft policy versions.
Each file is imported on its own: a file that cannot be read is reported with its reason and
nothing is written for it, and the others still import. The exit code is 1 if any was refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.importer import ImportRefused
from policies_app.importing.result import ImportResult
from policies_app.importing.services import (
    ImportOutcome,
    outcome_json,
    policy_document_extract,
    policy_document_import,
)
from policies_app.models import PolicyVersion


class Command(BaseCommand):
    help = (
        "Import payer medical-policy documents (.txt, .html, .pdf) as draft policy versions. Prints created / "
        "unchanged / refused for each (or, with --json, every extracted field with its source span and "
        "confidence, as docs/importer.md describes); exits non-zero if any was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", metavar="FILE", help="a policy document: text, HTML or PDF")
        parser.add_argument(
            "--as",
            dest="username",
            default=None,
            help="The policy editor recorded as creating the drafts (default: the first active policy editor).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Extract and report; write nothing.")
        parser.add_argument("--json", action="store_true", help="Print the extraction of each file as JSON.")
        parser.add_argument("--payer", default="", help="The payer, for documents that do not name theirs.")

    def handle(self, *args: Any, **options: Any) -> None:
        # Even a dry run reads the library (the published version to compare, the fact catalogue).
        pending = unapplied_migrations()
        if pending:
            raise CommandError(
                f"the database is not ready: {pending} migration(s) not applied; run `manage.py migrate` first"
            )
        dry_run: bool = options["dry_run"]
        as_json: bool = options["json"]
        user = None if dry_run else self._editor(options["username"])
        documents: list[dict[str, Any]] = []
        refused = 0
        for raw_path in options["paths"]:
            status, outcome, result, reason = self._one(raw_path, user, options["payer"], dry_run)
            if status == "refused":
                refused += 1
            if as_json:
                data = outcome_json(outcome, result, status)
                if reason and reason not in data["errors"]:
                    data["errors"].append(reason)
                documents.append(data)
            elif status == "refused":
                self.stdout.write(f"refused   {raw_path}: {reason}")
            elif outcome is None:
                self.stdout.write(f"{'read':<9} {raw_path}: {_summary(result)}")
            else:
                self.stdout.write(f"{status:<9} {raw_path}: {_describe(outcome.version)}")
        if as_json:
            self.stdout.write(json.dumps(documents, indent=2, ensure_ascii=False))
        if refused:
            raise CommandError(f"{refused} of {len(options['paths'])} documents refused", returncode=1)

    def _one(
        self, raw_path: str, user: User | None, payer: str, dry_run: bool
    ) -> tuple[str, ImportOutcome | None, ImportResult, str]:
        path = Path(raw_path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = f"cannot read the file: {exc.strerror or exc}"
            return "refused", None, ImportResult(file=raw_path, layout="unreadable", errors=[reason]), reason
        if dry_run or user is None:
            result = policy_document_extract(data=data, filename=raw_path, payer=payer)
            if result.errors and (result.layout == "unreadable" or not result.fields.get("positions")):
                return "refused", None, result, result.errors[0]
            return "dry-run", None, result, ""
        try:
            outcome = policy_document_import(data=data, filename=path.name, user=user, payer=payer)
        except ImportRefused as exc:
            result = policy_document_extract(data=data, filename=raw_path, payer=payer)
            return "refused", None, result, exc.reason
        except PermissionDeniedError as exc:
            # The same for every document, so stop rather than print it once per file.
            raise CommandError(exc.message) from exc
        outcome.result.file = raw_path
        return ("created" if outcome.created else "unchanged"), outcome, outcome.result, ""

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


def unapplied_migrations() -> int:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _summary(result: ImportResult) -> str:
    payer = result.value("payer") or "(payer not named)"
    number = result.value("number") or "(no number)"
    counts = (
        f"{len(result.many('codes'))} codes, {len(result.many('terms'))} terms, {len(result.criteria)} criteria lists"
    )
    review = result.needs_review()
    text = f"{payer} policy {number} version {result.value('version_label') or '(none)'}: {counts}"
    return text + (f"; confirm: {', '.join(review)}" if review else "")


def _describe(version: PolicyVersion) -> str:
    policy = version.policy
    text = (
        f"{policy.payer} policy {policy.number or '(no number)'} version {version.version_label} "
        f"({version.get_status_display().lower()}, id {version.pk})"
    )
    if version.missing_fields:
        # Only the field names here; the full sentences are on the draft in the admin.
        fields = "; ".join(dict.fromkeys(item.split(":", 1)[0] for item in version.missing_fields))
        text += f"; editor must fill in: {fields}"
    return text
