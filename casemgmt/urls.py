from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from casemgmt import api, views

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
]

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("queue/", views.queue, name="queue"),
    path("cases/<str:case_number>/", views.case_detail, name="case_detail"),
    path("cases/<str:case_number>/decide", views.case_decide, name="case_decide"),
    path("cases/<str:case_number>/refer", views.case_refer, name="case_refer"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api_schema"), name="api_docs"),
    path("api/v1/", include(api_v1)),
]
