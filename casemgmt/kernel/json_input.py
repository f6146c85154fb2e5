"""The API's JSON parser: what it refuses, naming the field path, before any view sees the body.

DRF's own parser hands on whatever the standard library reads, and some of that breaks the
server further on: JSON nested thousands deep reaches Python's recursion limit in the first
code that walks it; a NUL cannot be stored by PostgreSQL, in a text column or in jsonb; a lone
surrogate (a "\\ud800" escape with no partner) is not text and cannot be written back out as
UTF-8, not even in the 400 that quotes it; a number beyond a double (1e400) reads as infinity,
which JSON cannot hold. This parser reads with orjson, which refuses lone surrogates, invalid
UTF-8, NaN, Infinity and infinite numbers by itself and stops at 1,024 levels without using the
Python stack; then one pass over what it read (a loop, no recursion) refuses more than
MAX_DEPTH levels, NUL characters and integers beyond 64 bits, and takes only an object: every
JSON endpoint reads one.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from typing import IO, Any

import orjson
from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

MAX_DEPTH = 64
REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
# No field takes an integer beyond a signed 64-bit one (the database's bigint); a larger one
# would fail in SQL. orjson reads an integer beyond 64 bits as a float, so a body with a float
# that large and whole is read again exactly, to tell 1e30 (a float, allowed) from 10**30.
INTEGER_LIMIT = 2**63 - 1
_INEXACT_FROM = 2.0**63
_NOT_NUMBERS = ("NaN", "Infinity")
# A string literal up to its closing quote or the end of the text searched (group 1 is the quote).
_TOKEN = re.compile(r'"[^"\\]*(?:\\.?[^"\\]*)*("|$)|[\[\]{},:]')
# Past this many tokens a refusal names no path: finding it would cost more than the request is worth.
_LOCATE_TOKENS = 100_000

NOT_TEXT = "holds a NUL character or an unpaired surrogate (\\ud800-\\udfff), which the API does not take"
NAME_NOT_TEXT = "a field name here " + NOT_TEXT
TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"
NOT_FINITE = "must be a finite number (NaN and Infinity are not JSON numbers)"
TOO_LARGE = "is a number too large to read (beyond about 1.8e308)"
TOO_LONG = f"is an integer beyond 64 bits ({-INTEGER_LIMIT - 1} to {INTEGER_LIMIT}), which no field takes"
NOT_AN_OBJECT = "the body must be a JSON object"

Segments = tuple[str | int, ...]


class JsonRefused(exceptions.ParseError):
    """JSON the API does not take; `errors` names the field path, as validation errors do."""

    def __init__(self, path: Segments, message: str) -> None:
        super().__init__(message)
        self.errors = {field_path(path) or "non_field_errors": [message]}


def field_path(segments: Segments) -> str:
    """clinical_facts.bmi, service_lines[0].code: the form the API's validation errors use."""
    out = ""
    for segment in segments:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else segment
    return out


class ApiJSONParser(JSONParser):
    def parse(self, stream: IO[Any] | None, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = str((parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET)
        try:
            # str.encode takes text encodings only: a bytes-to-bytes codec (bz2_codec) could
            # expand a small body past the size limit, which was checked before decoding.
            "".encode(encoding)
            is_utf8 = codecs.lookup(encoding).name == "utf-8"
        except (LookupError, UnicodeError):
            raise exceptions.ParseError("JSON parse error - the declared charset is not a text encoding") from None
        raw: bytes = stream.read() if stream is not None else b""
        if is_utf8:
            return read_json(raw)
        try:
            return read_json(raw.decode(encoding))
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"JSON parse error - the body is not valid {encoding}") from None


def read_json(document: bytes | str) -> dict[str, Any]:
    """The object in `document`, or JsonRefused / ParseError saying what is wrong and where."""
    try:
        data = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        raise _decode_error(exc) from None
    if not isinstance(data, dict):
        raise JsonRefused((), NOT_AN_OBJECT)
    if _check(data, note_inexact=True):
        text = document if isinstance(document, str) else document.decode()
        data = json.loads(text)
        _check(data, note_inexact=False)
    return data


def _check(data: dict[str, Any], *, note_inexact: bool) -> bool:
    """Raise JsonRefused at a problem; return whether a number may have been read inexactly.

    orjson has refused unpaired surrogates already, so a string is only looked at for NUL.
    Containers wait in a list, never on the Python stack.
    """
    inexact = False
    pending: list[tuple[dict[str, Any] | list[Any], Segments]] = [(data, ())]
    while pending:
        container, path = pending.pop()
        if len(path) >= MAX_DEPTH:
            raise JsonRefused(path, TOO_DEEP)
        items = container.items() if isinstance(container, dict) else enumerate(container)
        for key, value in items:
            if isinstance(key, str) and "\x00" in key:
                raise JsonRefused(path, NAME_NOT_TEXT)
            if isinstance(value, str):
                if "\x00" in value:
                    raise JsonRefused((*path, key), NOT_TEXT)
            elif isinstance(value, (dict, list)):
                pending.append((value, (*path, key)))
            elif isinstance(value, int):
                if not -INTEGER_LIMIT - 1 <= value <= INTEGER_LIMIT:
                    raise JsonRefused((*path, key), TOO_LONG)
            elif isinstance(value, float):
                if not math.isfinite(value):
                    raise JsonRefused((*path, key), NOT_FINITE)
                if note_inexact and abs(value) >= _INEXACT_FROM and value.is_integer():
                    inexact = True
    return inexact


def _decode_error(exc: orjson.JSONDecodeError) -> exceptions.ParseError:
    """A refusal naming the field path where orjson stopped, for the problems this parser names."""
    doc, pos, reason = exc.doc, exc.pos, exc.msg
    if not isinstance(doc, str) or "not valid UTF-8" in reason:
        return exceptions.ParseError("JSON parse error - the body is not valid UTF-8")
    if "depth limit" in reason:
        message = TOO_DEEP
    elif "surrogate" in reason:
        message = NOT_TEXT
    elif "infinity" in reason:
        message = TOO_LARGE
    elif doc.startswith(_NOT_NUMBERS, pos):
        message = NOT_FINITE
    else:
        # orjson's messages name what it expected and where, never the text it read.
        return exceptions.ParseError(f"JSON parse error - {exc}")
    path, found = _locate(doc, pos)
    return JsonRefused(path, found or message)


def _locate(doc: str, end: int) -> tuple[Segments, str | None]:
    """The path of the value at doc[end], read from the tokens before it (which orjson has read
    as valid JSON up to there) in a loop. With it, the problem met on the way, if any: a
    container nested deeper than MAX_DEPTH, or a field name that is not text (doc[end] may lie
    in that name). Never recursive, whatever the depth."""
    # Each open container: [segment, is_object, a field name comes next].
    frames: list[list[Any]] = []
    for count, token in enumerate(_TOKEN.finditer(doc, 0, end)):
        if count == _LOCATE_TOKENS:
            return (), None
        char = token.group()[0]
        if char in "[{":
            if len(frames) >= MAX_DEPTH:
                return _segments(frames), TOO_DEEP
            frames.append([0, False, False] if char == "[" else [None, True, True])
        elif char in "]}":
            if frames:
                frames.pop()
        elif not frames:
            continue
        elif char == ",":
            top = frames[-1]
            if top[1]:
                top[2] = True
            else:
                top[0] += 1
        elif char == ":":
            frames[-1][2] = False
        elif frames[-1][1] and frames[-1][2]:
            # A field name: the one doc[end] lies in (unterminated here), or a complete one.
            if token.group(1) != '"' or REFUSED_CHARACTERS.search(name := json.loads(token.group())):
                return _segments(frames[:-1]), NAME_NOT_TEXT
            frames[-1][0] = name
    return _segments(frames), None


def _segments(frames: list[list[Any]]) -> Segments:
    """The path of the innermost frame's current value; none if a field name comes next there."""
    inner = frames[-1:] if frames and not (frames[-1][1] and frames[-1][2]) else []
    return tuple(frame[0] for frame in [*frames[:-1], *inner])
