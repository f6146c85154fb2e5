"""The product's URLs plus `GET /bench/queue-baseline`, mounted only by bench/queue/settings.py."""

from __future__ import annotations

from django.urls import path

from bench.queue.baseline import baseline
from casemgmt.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/queue-baseline", baseline, name="bench_queue_baseline"),
    *product_urlpatterns,
]
