"""`manage.py load_eligibility FILE.csv`: load the plan's member coverage from its enrollment file.

The file is CSV (UTF-8, a byte-order mark allowed) with the header
`member_id,line_of_business,plan_id,coverage_start,coverage_end` (in any order): dates as
YYYY-MM-DD, an empty coverage_end for an open-ended coverage, line_of_business one of
commercial, medicare_advantage, medicaid, chip, exchange. The file is read as it goes, never
whole, and loaded all or nothing by casemgmt.cases.services.eligibility.coverage_rows_load: a bad
row is reported with its line number, nothing is loaded, and the command exits 1. Loading the
same file again changes nothing.
"""

from __future__ import annotations

import csv
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.db import transaction

from casemgmt.audit.context import command_scope
from casemgmt.cases.services.eligibility import CoverageRow, coverage_rows_load
from casemgmt.kernel.errors import ValidationFailed

COLUMNS = ("member_id", "line_of_business", "plan_id", "coverage_start", "coverage_end")
BAR_WIDTH = 40
# Problems of the file itself (a short row, a missing column) named before giving up on it.
MAX_FILE_PROBLEMS = 100


def count_lines(path: Path) -> int:
    """Lines in the file, for the progress bar: newlines counted in binary blocks (a fraction of a
    second for a million rows)."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _line_number(problem: str) -> int:
    """Where a problem is in the file ("line 14: ..."), for listing them in file order; a problem
    of the whole file comes last."""
    found = re.match(r"line (\d+):", problem)
    return int(found.group(1)) if found else sys.maxsize


class Progress:
    """A progress bar on standard error: redrawn in place on a terminal, a line every tenth
    otherwise (a log file gets ten lines, not a million)."""

    def __init__(self, stream: OutputWrapper, total: int) -> None:
        self.stream = stream
        self.total = max(total, 1)
        self.tty = stream.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        percent = min(100, 100 * done // self.total)
        step = percent if self.tty else percent // 10 * 10
        if step == self.shown:
            return
        self.shown = step
        filled = BAR_WIDTH * percent // 100
        bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {percent:3d}%  {done:,}/{self.total:,} rows"
        self.stream.write(f"\r{bar}" if self.tty else f"{bar}\n", ending="")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.shown >= 0:
            self.stream.write("")
            self.stream.flush()


class Command(BaseCommand):
    help = "Load member coverage from a CSV file (member_id,line_of_business,plan_id,coverage_start,coverage_end)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file; UTF-8, with a header row.")
        parser.add_argument("--no-progress", action="store_true", help="Print no progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        started = time.perf_counter()
        progress = None if options["no_progress"] else Progress(self.stderr, count_lines(path) - 1)
        file_problems: list[str] = []
        try:
            with (
                path.open(encoding="utf-8-sig", newline="") as handle,
                command_scope("load_eligibility"),
                # The service's transaction is all or nothing for the rows; this one also undoes
                # them when the file itself has a problem the service never sees (a short row).
                transaction.atomic(),
            ):
                result = coverage_rows_load(
                    rows=self._rows(handle, file_problems, progress), source="load_eligibility", user=None
                )
                if file_problems:
                    raise ValidationFailed({})
        except ValidationFailed as exc:
            self._close(progress)
            problems = file_problems + [f"{key}: {'; '.join(messages)}" for key, messages in exc.errors.items()]
            for problem in sorted(problems, key=_line_number):
                self.stderr.write(problem)
            raise CommandError(f"{path}: nothing was loaded ({len(problems)} problems above)") from exc
        except UnicodeDecodeError as exc:
            self._close(progress)
            raise CommandError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); nothing was loaded"
            ) from exc
        self._close(progress)
        self.stdout.write(
            f"{path}: {result.rows:,} rows, {result.periods:,} coverage periods: {result.inserted:,} added, "
            f"{result.updated:,} with a new end, {result.unchanged:,} unchanged ({time.perf_counter() - started:.1f} s)"
        )

    @staticmethod
    def _close(progress: Progress | None) -> None:
        if progress is not None:
            progress.close()

    @staticmethod
    def _rows(handle: IO[str], problems: list[str], progress: Progress | None) -> Iterator[CoverageRow]:
        """The file's rows, each with its line number. Problems of the file itself go to `problems`;
        once there is one, no more rows are handed on (the load is refused anyway), but the file is
        still read to the end, to name every short row."""
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            problems.append("line 1: the file is empty; it needs the header " + ",".join(COLUMNS))
            return
        names = [name.strip() for name in header]
        missing = [name for name in COLUMNS if name not in names]
        unknown = [name for name in names if name not in COLUMNS]
        if missing or unknown or len(set(names)) != len(names):
            problems.append(
                f"line 1: the header must name the columns {','.join(COLUMNS)} once each"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
            return
        member, lob, plan, start, end = (names.index(name) for name in COLUMNS)
        width = len(names)
        done = 0
        try:
            for fields in reader:
                done += 1
                if progress is not None and not done % 10_000:
                    progress.update(done)
                if not fields:
                    continue  # a blank line
                if len(fields) != width:
                    if len(problems) < MAX_FILE_PROBLEMS:
                        problems.append(f"line {reader.line_num}: {len(fields)} fields where the header has {width}")
                    continue
                if problems:
                    continue
                yield CoverageRow(
                    fields[member], fields[lob], fields[plan], fields[start], fields[end], reader.line_num
                )
        except csv.Error as exc:
            # A field past the csv module's size limit, a quote never closed: the rest is unreadable.
            problems.append(f"line {reader.line_num}: not readable as CSV ({exc})")
        if progress is not None:
            progress.update(done)
