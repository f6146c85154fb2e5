"""CDS Hooks 2.0 for Da Vinci CRD: /cds-services (discovery) and /cds-services/<id>."""

from __future__ import annotations

from django.urls import path

from casemgmt.fhir.cds_views import CdsDiscoveryView, CdsServiceView

urlpatterns = [
    path("cds-services", CdsDiscoveryView.as_view(), name="cds_services"),
    path("cds-services/<str:service_id>", CdsServiceView.as_view(), name="cds_service"),
]
