"""Database set-up shared by the benchmarks that need a PostgreSQL database of their own."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def db_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def _admin_url(url: str, name: str, suffix: str) -> str:
    if not name.endswith(suffix):
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark's database name must end in {suffix}")
    return urlsplit(url)._replace(path="/postgres").geturl()


def drop_database(url: str, *, suffix: str) -> None:
    """Drop the benchmark's own database (same refusal as recreate_database)."""
    import psycopg
    from psycopg import sql

    name = db_name(url)
    with psycopg.connect(_admin_url(url, name, suffix), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def recreate_database(url: str, *, suffix: str) -> None:
    """Drop and create the benchmark's own database; refuses any name not ending in `suffix`,
    so a mistyped DATABASE_URL can never drop a real database."""
    import psycopg
    from psycopg import sql

    name = db_name(url)
    with psycopg.connect(_admin_url(url, name, suffix), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
