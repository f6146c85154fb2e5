from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from casemgmt import api, views, web_case, web_dashboard, web_queue
from casemgmt.retro import api as retro_api
from policies_app import views as policy_views

api_v1 = [
    path("cases", api.CaseCollectionApi.as_view(), name="api_cases"),
    path("cases/<str:case_number>", api.CaseDetailApi.as_view(), name="api_case_detail"),
    path("cases/<str:case_number>/decisions", api.CaseDecisionsApi.as_view(), name="api_case_decisions"),
    path("cases/<str:case_number>/information", api.CaseInformationApi.as_view(), name="api_case_information"),
    path("cases/<str:case_number>/cancel", api.CaseCancelApi.as_view(), name="api_case_cancel"),
    path("cases/<str:case_number>/pend", api.CasePendApi.as_view(), name="api_case_pend"),
    path("cases/<str:case_number>/attachments", api.CaseAttachmentsApi.as_view(), name="api_case_attachments"),
    path(
        "cases/<str:case_number>/attachments/<int:attachment_id>",
        api.CaseAttachmentDownloadApi.as_view(),
        name="api_case_attachment_download",
    ),
    path("coverage", api.CoverageApi.as_view(), name="api_coverage"),
    path("webhooks", api.WebhooksApi.as_view(), name="api_webhooks"),
    path("retro/runs", retro_api.RetroRunCollectionApi.as_view(), name="api_retro_runs"),
    path("retro/runs/<int:run_id>", retro_api.RetroRunDetailApi.as_view(), name="api_retro_run_detail"),
    path("retro/runs/<int:run_id>/cancel", retro_api.RetroRunCancelApi.as_view(), name="api_retro_run_cancel"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queue/", web_queue.queue, name="queue"),
    path("cases/<str:case_number>/", views.case_detail, name="case_detail"),
    path("cases/<str:case_number>/decide", views.case_decide, name="case_decide"),
    path("cases/<str:case_number>/refer", views.case_refer, name="case_refer"),
    path("cases/<str:case_number>/note", web_case.case_note, name="case_note"),
    path("cases/<str:case_number>/pend", web_case.case_pend, name="case_pend"),
    path("cases/<str:case_number>/peer-to-peer", web_case.case_peer_to_peer, name="case_peer_to_peer"),
    path(
        "cases/<str:case_number>/attachments/<int:attachment_id>/view",
        web_case.attachment_view,
        name="case_attachment_view",
    ),
    path("cases/<str:case_number>/letter/<int:decision_id>/", web_case.letter_page, name="case_letter"),
    path("cases/<str:case_number>/letter/<int:decision_id>.pdf", web_case.letter_pdf, name="case_letter_pdf"),
    path("policies/versions/<int:version_id>/", policy_views.version_detail, name="policy_version_detail"),
    path("policies/search", policy_views.version_search, name="policy_search"),
    path("cases/<str:case_number>/claim", web_queue.case_claim, name="case_claim"),
    path("cases/<str:case_number>/reassign", web_queue.case_reassign, name="case_reassign"),
    path("dashboard/", web_dashboard.dashboard, name="dashboard"),
    path("dashboard/export.csv", web_dashboard.dashboard_export, name="dashboard_export"),
    path("", include("casemgmt.retro.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("audit/", include("casemgmt.audit.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's start-up script from a URL, not inline, for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api_docs/swagger_ui.html"),
        name="api_docs",
    ),
    path("api/v1/", include(api_v1)),
]
handler404 = "casemgmt.views.not_found"
