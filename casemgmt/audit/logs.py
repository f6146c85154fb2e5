"""Log formatting that keeps member data out of the logs.

Log lines are written by our code (which logs identifiers: case numbers, ids) and by Django
("Internal Server Error: /path", the path without its query string). What can carry member data
is an exception's message: a database error quotes the row it refused ("Key (member_id)=(...)").
So tracebacks keep the exception types and every frame (file, line, function, the code line),
and leave the messages out unless LOG_EXCEPTION_DETAIL is set, for a system that holds no real
member data.
"""

from __future__ import annotations

import logging
import traceback
from types import TracebackType
from typing import Any

WITHHELD = "[message withheld: it may carry member data; LOG_EXCEPTION_DETAIL=1 shows it]"

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None] | tuple[None, None, None]


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and those it was raised from or during, outermost last (as Python prints them)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return list(reversed(chain))


def traceback_without_messages(exc: BaseException) -> str:
    parts: list[str] = []
    for i, item in enumerate(_chain(exc)):
        if i:
            parts.append("\nDuring handling of, or caused by, the exception above:\n\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(item.__traceback__))
        kind = type(item)
        parts.append(f"{kind.__module__}.{kind.__qualname__}: {WITHHELD}\n")
    return "".join(parts).rstrip("\n")


class MemberDataSafeFormatter(logging.Formatter):
    """A Formatter whose tracebacks name exception types but not their messages."""

    def __init__(self, *args: Any, exception_detail: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exception_detail = exception_detail

    def formatException(self, ei: Any) -> str:
        if self.exception_detail or ei[1] is None:
            return super().formatException(ei)
        return traceback_without_messages(ei[1])

    def format(self, record: logging.LogRecord) -> str:
        # The base class caches the formatted traceback on the record, which another handler
        # (with other settings) would then reuse; format it afresh each time.
        record.exc_text = None
        text = super().format(record)
        record.exc_text = None
        return text
