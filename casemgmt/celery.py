from __future__ import annotations

import os
from typing import Any

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casemgmt.settings")

# Where tasks go when no CELERY_BROKER_URL is set: they run in-process (CELERY_TASK_ALWAYS_EAGER),
# but Celery still takes a producer from the broker's connection pool to serialise their
# arguments. Without a broker URL kombu would build one for amqp://localhost (and warn that no
# hostname was supplied); the in-memory transport keeps everything in the process.
IN_PROCESS_BROKER_URL = "memory://localhost/"

app = Celery("casemgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def broker_in_process_without_one(sender: Celery, **kwargs: Any) -> None:
    if not sender.conf.broker_url:
        sender.conf.update(broker_url=IN_PROCESS_BROKER_URL)
