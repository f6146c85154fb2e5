"""Settings for the queue benchmark only: the product's settings plus the baseline page.

Never used by the product. `bench/queue/run.py` selects this module before Django starts.
"""

from __future__ import annotations

from casemgmt.settings import *  # noqa: F403

ROOT_URLCONF = "bench.queue.urls"
