"""Small typed readers for environment variables.

Each helper fails loudly (ImproperlyConfigured) on a value it cannot read, so a typo in
deployment configuration stops the process at start-up instead of silently using a default.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from exc
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str) -> str:
    """Read a secret from NAME, or from the file named by NAME_FILE (Docker/Kubernetes secrets)."""
    value = os.environ.get(name, "")
    file_name = os.environ.get(f"{name}_FILE", "")
    if value and file_name:
        raise ImproperlyConfigured(f"set either {name} or {name}_FILE, not both")
    if file_name:
        path = Path(file_name)
        if not path.is_file():
            raise ImproperlyConfigured(f"{name}_FILE points at {file_name}, which is not a readable file")
        value = path.read_text().strip()
        if not value:
            raise ImproperlyConfigured(f"{name}_FILE ({file_name}) is empty")
    return value


DEV_KEY_PREFIX = "dev-"


def dev_secret_key(path: Path) -> str:
    """The development SECRET_KEY kept in `path` (made on first use, readable by its owner only), so
    a DEBUG server's sessions and FHIR access tokens survive a restart. Settings use it only with
    DEBUG on; where the file cannot be written, a key for this process alone."""
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = DEV_KEY_PREFIX + secrets.token_urlsafe(48)
        try:
            fd, draft = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.")  # created 0600
            with os.fdopen(fd, "w") as out:
                out.write(key + "\n")
            try:
                # A link never replaces: of two processes starting at once, the first key stays.
                os.link(draft, path)
            except FileExistsError:
                key = path.read_text().strip()
            finally:
                os.unlink(draft)
        except OSError:
            return key
    if not key.startswith(DEV_KEY_PREFIX) or len(key) < 50:
        raise ImproperlyConfigured(f"{path} does not hold a development key: delete it and a new one is made")
    return key


def env_networks(name: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Comma-separated IP addresses or CIDR networks (10.0.0.0/8, 2001:db8::1)."""
    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP address or network") from exc
    return networks
