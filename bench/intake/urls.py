"""The product's URLs plus `POST /bench/baseline`, mounted only by bench/intake/settings.py."""

from __future__ import annotations

from django.urls import path

from bench.intake.baseline import BaselineApi
from casemgmt.urls import urlpatterns as product_urlpatterns

urlpatterns = [
    path("bench/baseline", BaselineApi.as_view(), name="bench_baseline"),
    *product_urlpatterns,
]
