"""A broker that is down or does not answer fails a send within seconds: it never hangs a request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from django.conf import settings

from casemgmt.celery import app
from casemgmt.outbox.services import PUBLISH_RETRY_POLICY

# One try, its retry, each bounded by the connect and socket timeouts, with room for a slow machine.
BOUND_SECONDS = 2 * (settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] + 1) + 2


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a hung broker, or one behind a
    network that drops its replies."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


def _publish_to(url: str) -> None:
    with app.connection_for_write(url=url) as conn:
        conn.Producer().publish(
            {"probe": 1}, routing_key="outbox-timeout-probe", retry=True, retry_policy=PUBLISH_RETRY_POLICY
        )


def test_the_settings_bound_every_broker_connection():
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert options["socket_connect_timeout"] == settings.CELERY_BROKER_CONNECTION_TIMEOUT == 2
    assert options["socket_timeout"] == 3
    assert app.conf.broker_transport_options["socket_timeout"] == 3
    assert PUBLISH_RETRY_POLICY["max_retries"] == 1


def test_a_send_to_a_broker_that_never_answers_fails_within_seconds(silent_broker):
    started = time.monotonic()
    with pytest.raises(Exception):  # kombu's or redis's error, whichever gives up first
        _publish_to(silent_broker)
    assert time.monotonic() - started < BOUND_SECONDS


def test_a_send_to_a_broker_that_is_down_fails_at_once():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free now that it is closed below: nothing listens there
    started = time.monotonic()
    with pytest.raises(Exception):
        _publish_to(f"redis://127.0.0.1:{port}/0")
    assert time.monotonic() - started < 2
