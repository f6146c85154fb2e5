"""Database triggers that make frozen rows refuse changes, for PostgreSQL and SQLite.

The services never update these rows; the triggers make sure nothing else can either (a
stray shell session, a future bug, a direct SQL client). Migrations install them.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def _pg_append_only(table: str, what: str) -> list[str]:
    fn = f"{table}_append_only"
    return [
        f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% on {table} refused: {what} are append-only', TG_OP
    USING ERRCODE = 'integrity_constraint_violation';
END $$ LANGUAGE plpgsql""",
        f"DROP TRIGGER IF EXISTS {fn} ON {table}",
        f"CREATE TRIGGER {fn} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}()",
    ]


def _sqlite_append_only(table: str, what: str) -> list[str]:
    # Only UPDATE on SQLite: the test runner empties tables with DELETE between tests.
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only",
        f"""CREATE TRIGGER {table}_append_only BEFORE UPDATE ON {table}
BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} refused: {what} are append-only'); END""",
    ]


def install_append_only(
    schema_editor: BaseDatabaseSchemaEditor, tables: Sequence[str], *, what: str = "recorded decisions"
) -> None:
    """`what` names the rows in the refusal message (plain words, no quotes)."""
    vendor = schema_editor.connection.vendor
    for table in tables:
        statements = _pg_append_only(table, what) if vendor == "postgresql" else _sqlite_append_only(table, what)
        for sql in statements:
            schema_editor.execute(sql, params=None)


def _distinct(columns: Sequence[str], vendor: str) -> str:
    op = "IS DISTINCT FROM" if vendor == "postgresql" else "IS NOT"
    return " OR ".join(f"NEW.{c} {op} OLD.{c}" for c in columns)


def install_frozen_version(
    schema_editor: BaseDatabaseSchemaEditor,
    *,
    table: str,
    frozen_columns: Sequence[str],
    child_tables: Sequence[str],
) -> None:
    """A published or retired version may only move published -> retired, or have an open end closed."""
    vendor = schema_editor.connection.vendor
    frozen = "('published', 'retired')"
    changed = _distinct(frozen_columns, vendor)
    end_changed = (
        "NEW.effective_end IS DISTINCT FROM OLD.effective_end"
        if vendor == "postgresql"
        else ("NEW.effective_end IS NOT OLD.effective_end")
    )
    bad_move = (
        f"({changed}) OR (OLD.effective_end IS NOT NULL AND {end_changed}) "
        "OR NOT (NEW.status = OLD.status OR (OLD.status = 'published' AND NEW.status = 'retired'))"
    )
    if vendor == "postgresql":
        statements = [
            f"""CREATE OR REPLACE FUNCTION {table}_frozen() RETURNS trigger AS $$
BEGIN
  IF OLD.status IN {frozen} THEN
    IF TG_OP = 'DELETE' THEN
      RAISE EXCEPTION 'policy version % is published and cannot be deleted', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF {bad_move} THEN
      RAISE EXCEPTION 'policy version % is published and cannot be changed', OLD.id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
            f"DROP TRIGGER IF EXISTS {table}_frozen ON {table}",
            f"CREATE TRIGGER {table}_frozen BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_frozen()",
            f"""CREATE OR REPLACE FUNCTION {table}_child_frozen() RETURNS trigger AS $$
BEGIN
  IF (TG_OP <> 'INSERT' AND EXISTS (SELECT 1 FROM {table} WHERE id = OLD.version_id AND status IN {frozen}))
     OR (TG_OP <> 'DELETE' AND EXISTS (SELECT 1 FROM {table} WHERE id = NEW.version_id AND status IN {frozen}))
  THEN
    RAISE EXCEPTION '% on % refused: the policy version is published', TG_OP, TG_TABLE_NAME
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
        ]
        for child in child_tables:
            statements += [
                f"DROP TRIGGER IF EXISTS {child}_frozen ON {child}",
                f"CREATE TRIGGER {child}_frozen BEFORE INSERT OR UPDATE OR DELETE ON {child} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_child_frozen()",
            ]
    else:
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_frozen",
            f"""CREATE TRIGGER {table}_frozen BEFORE UPDATE ON {table}
FOR EACH ROW WHEN OLD.status IN {frozen} AND ({bad_move})
BEGIN SELECT RAISE(ABORT, 'policy version is published and cannot be changed'); END""",
        ]
        for child in child_tables:
            for op, ref in (("INSERT", "NEW"), ("UPDATE", "OLD")):
                statements += [
                    f"DROP TRIGGER IF EXISTS {child}_frozen_{op.lower()}",
                    f"""CREATE TRIGGER {child}_frozen_{op.lower()} BEFORE {op} ON {child}
FOR EACH ROW WHEN (SELECT status FROM {table} WHERE id = {ref}.version_id) IN {frozen}
BEGIN SELECT RAISE(ABORT, '{op} on {child} refused: the policy version is published'); END""",
                ]
    for sql in statements:
        schema_editor.execute(sql, params=None)


def install_ended_once(
    schema_editor: BaseDatabaseSchemaEditor,
    *,
    table: str,
    frozen_columns: Sequence[str],
    what: str,
) -> None:
    """Rows that are never edited but end once: only an active row may change, only its status
    (to something other than active) and the columns that say when and why it ended.

    `frozen_columns` are every other column. Deleting is refused on PostgreSQL (the SQLite test
    runner empties tables with DELETE between tests).
    """
    vendor = schema_editor.connection.vendor
    changed = _distinct(frozen_columns, vendor)
    bad_move = f"OLD.status <> 'active' OR NEW.status = 'active' OR {changed}"
    if vendor == "postgresql":
        fn = f"{table}_ended_once"
        statements = [
            f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' OR {bad_move} THEN
    RAISE EXCEPTION '% on {table} refused: {what} are never edited; a new one supersedes', TG_OP
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql""",
            f"DROP TRIGGER IF EXISTS {fn} ON {table}",
            f"CREATE TRIGGER {fn} BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}()",
        ]
    else:
        statements = [
            f"DROP TRIGGER IF EXISTS {table}_ended_once",
            f"""CREATE TRIGGER {table}_ended_once BEFORE UPDATE ON {table}
FOR EACH ROW WHEN {bad_move}
BEGIN SELECT RAISE(ABORT, 'UPDATE on {table} refused: {what} are never edited; a new one supersedes'); END""",
        ]
    for sql in statements:
        schema_editor.execute(sql, params=None)
