"""Pages of retrospective review; the API routes are in casemgmt/urls.py (api_v1)."""

from __future__ import annotations

from django.urls import path

from casemgmt.retro import views as web

urlpatterns = [
    path("queue/retro/", web.queue, name="retro_queue"),
    path("queue/retro/<int:item_id>/", web.item_detail, name="retro_item"),
    path("queue/retro/<int:item_id>/claim", web.item_claim, name="retro_item_claim"),
    path("queue/retro/<int:item_id>/resolve", web.item_resolve, name="retro_item_resolve"),
    path("queue/retro/<int:item_id>/refer", web.item_refer, name="retro_item_refer"),
    path("queue/retro/<int:item_id>/correct", web.item_correct, name="retro_item_correct"),
    path("retro/runs/panel", web.runs_panel, name="retro_runs_panel"),
    path("retro/runs/<int:run_id>/progress", web.run_progress, name="retro_run_progress"),
]
