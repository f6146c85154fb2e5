"""Database set-up shared by the benchmarks that need a PostgreSQL database of their own."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit


def db_name(url: str) -> str:
    return unquote(urlsplit(url).path.lstrip("/"))


def recreate_database(url: str, *, suffix: str) -> None:
    """Drop and create the benchmark's own database; refuses any name not ending in `suffix`,
    so a mistyped DATABASE_URL can never drop a real database."""
    import psycopg
    from psycopg import sql

    name = db_name(url)
    if not name.endswith(suffix):
        raise SystemExit(f"refusing to drop database {name!r}: the benchmark's database name must end in {suffix}")
    admin = urlsplit(url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
