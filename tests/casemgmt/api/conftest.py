"""The retrospective review API's tests use the retrospective review tests' library of policies."""

from tests.casemgmt.retro.conftest import library, small_chunks

__all__ = ["library", "small_chunks"]
