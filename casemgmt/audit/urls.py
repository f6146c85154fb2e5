from __future__ import annotations

from django.urls import path

from casemgmt.audit import views

urlpatterns = [
    path("", views.audit_event_list, name="audit_events"),
    path("export.csv", views.audit_event_export, name="audit_export"),
    path("<int:event_id>/", views.audit_event_detail, name="audit_event"),
]
