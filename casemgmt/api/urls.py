"""The v1 API's routes, under /api/v1/."""

from __future__ import annotations

from django.urls import path

from casemgmt.api import appeals, attachments, authorizations, cases, coverage, eligibility, reports, retro, webhooks

urlpatterns = [
    path("cases", cases.CaseCollectionApi.as_view(), name="api_cases"),
    path("cases/<str:case_number>", cases.CaseDetailApi.as_view(), name="api_case_detail"),
    path("cases/<str:case_number>/decisions", cases.CaseDecisionsApi.as_view(), name="api_case_decisions"),
    path("cases/<str:case_number>/information", cases.CaseInformationApi.as_view(), name="api_case_information"),
    path("cases/<str:case_number>/cancel", cases.CaseCancelApi.as_view(), name="api_case_cancel"),
    path("cases/<str:case_number>/pend", cases.CasePendApi.as_view(), name="api_case_pend"),
    path("cases/<str:case_number>/appeals", appeals.CaseAppealsApi.as_view(), name="api_case_appeals"),
    path("cases/<str:case_number>/reopen", appeals.CaseReopenApi.as_view(), name="api_case_reopen"),
    path("cases/<str:case_number>/attachments", attachments.CaseAttachmentsApi.as_view(), name="api_case_attachments"),
    path(
        "cases/<str:case_number>/attachments/<int:attachment_id>",
        attachments.CaseAttachmentDownloadApi.as_view(),
        name="api_case_attachment_download",
    ),
    path("authorizations", authorizations.AuthorizationCollectionApi.as_view(), name="api_authorizations"),
    path(
        "authorizations/<str:authorization_number>",
        authorizations.AuthorizationDetailApi.as_view(),
        name="api_authorization_detail",
    ),
    path(
        "authorizations/<str:authorization_number>/extensions",
        authorizations.AuthorizationExtensionsApi.as_view(),
        name="api_authorization_extensions",
    ),
    path("coverage", coverage.CoverageApi.as_view(), name="api_coverage"),
    path("eligibility", eligibility.EligibilityApi.as_view(), name="api_eligibility"),
    path("reports/cms-0057f", reports.CmsReportApi.as_view(), name="api_reports_cms_0057f"),
    path("webhooks", webhooks.WebhooksApi.as_view(), name="api_webhooks"),
    path("retro/runs", retro.RetroRunCollectionApi.as_view(), name="api_retro_runs"),
    path("retro/runs/<int:run_id>", retro.RetroRunDetailApi.as_view(), name="api_retro_run_detail"),
    path("retro/runs/<int:run_id>/cancel", retro.RetroRunCancelApi.as_view(), name="api_retro_run_cancel"),
]
