"""A client's webhook endpoint on 127.0.0.1 that counts what it is sent.

It checks each notification's signature as a client would, counts the ones it accepts per
(case number, event), and refuses the first attempt at a few cases' (HTTP
503) so the product's retry schedule is exercised as well as its recovery from faults.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# The first attempt at one case in this many is refused, deterministically by case number.
REFUSE_FIRST_OF_ONE_IN = 20


def refused_first(case_number: str) -> bool:
    return int(hashlib.sha256(case_number.encode()).hexdigest(), 16) % REFUSE_FIRST_OF_ONE_IN == 0


class WebhookReceiver:
    def __init__(self) -> None:
        self.secret = ""
        self.lock = threading.Lock()
        self.accepted: Counter[tuple[str, str]] = Counter()  # (case number, event) -> 2xx answers
        self.refused: Counter[tuple[str, str]] = Counter()
        self.posts = 0
        self.bad: list[str] = []  # unsigned, wrongly signed or unreadable notifications
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                code = receiver.handle(body, dict(self.headers.items()))
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # thousands of lines of nothing

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/casemgmt"

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    def _signed(self, body: bytes, header: str) -> bool:
        parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        timestamp, given = parts.get("t", ""), parts.get("v1", "")
        expected = hmac.new(self.secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        return bool(timestamp) and hmac.compare_digest(expected, given)

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.posts += 1
            try:
                payload = json.loads(body)
                key = (str(payload["case_number"]), str(payload["event"]))
            except (ValueError, KeyError, TypeError):
                self.bad.append(f"unreadable body: {body[:200]!r}")
                return 400
            if not self._signed(body, headers.get("X-Casemgmt-Signature", "")):
                self.bad.append(f"bad signature on {key}")
                return 401
            if refused_first(key[0]) and not self.refused[key]:
                self.refused[key] += 1
                return 503
            self.accepted[key] += 1
            return 200

    def snapshot(self) -> tuple[Counter[tuple[str, str]], int]:
        with self.lock:
            return Counter(self.accepted), self.posts
