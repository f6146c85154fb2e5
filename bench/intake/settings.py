"""Settings for the intake benchmark only: the product's settings plus the baseline endpoint.

Never used by the product. `bench/intake/run.py` points gunicorn and manage.py at this module.
"""

from __future__ import annotations

from casemgmt.settings import *  # noqa: F403

ROOT_URLCONF = "bench.intake.urls"
