"""A guarded change to a row: lock it, check it is as the caller saw it and in a status that
allows the change, then write the change with a new row_version.

`row_version` is what a page or client last saw of the row: a change made on an older one is
refused rather than written over whatever happened since. The row lock makes two changes of one
row take turns, so the second sees what the first did and is checked against it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from django.db.models import F, Manager

from casemgmt.kernel.errors import ConflictError, InvalidTransition, NotFoundError


class GuardedModel(Protocol):
    """A model whose rows change under guard: a `status` with choices and a `row_version`."""

    objects: ClassVar[Manager[Any]]
    row_version: int
    status: str

    @property
    def pk(self) -> Any: ...

    def get_status_display(self) -> str: ...


M = TypeVar("M", bound=GuardedModel)


@dataclass(frozen=True)
class GuardedRows(Generic[M]):
    """The rows of one model that change under guard, and how a refusal names them.

    `missing` is the message when the row does not exist; `name` says which row a refusal is
    about ("case PA-…", "review item 12").
    """

    model: type[M]
    missing: str
    name: Callable[[M], str]

    def lock(
        self,
        pk: int,
        *,
        expected_row_version: int | None = None,
        allowed: Collection[str] | None = None,
        refusal: str = "",
    ) -> M:
        """Lock the row for the rest of the transaction. It must exist, be as the caller last saw
        it (when `expected_row_version` is given) and be in one of the `allowed` statuses (when
        given; `refusal` then says what it cannot do)."""
        row: M | None = self.model.objects.select_for_update().filter(pk=pk).first()
        if row is None:
            raise NotFoundError(self.missing)
        if expected_row_version is not None and row.row_version != expected_row_version:
            raise self.stale(row)
        if allowed is not None and row.status not in allowed:
            raise self.refused(row, refusal)
        return row

    def update(self, row: M, **values: Any) -> None:
        """Write `values` to a row `lock` returned, bumping its row_version. `row` keeps the values
        it was locked with (the caller records the change from them); refresh it to read the new."""
        updated = self.model.objects.filter(pk=row.pk, row_version=row.row_version).update(
            row_version=F("row_version") + 1, **values
        )
        if updated != 1:
            # Under the row lock no other transaction can have moved it on: the caller did.
            raise self.stale(row)

    def stale(self, row: M) -> ConflictError:
        return ConflictError(
            f"{self.name(row)} changed since you opened it; reload it and review again", current_status=row.status
        )

    def refused(self, row: M, refusal: str) -> InvalidTransition:
        return InvalidTransition(
            f"{self.name(row)} is {row.get_status_display().lower()}; {refusal}", current_status=row.status
        )
