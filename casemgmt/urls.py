from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from casemgmt import health
from policies_app import views as policy_views

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("casemgmt.workspace.urls")),
    path("policies/versions/<int:version_id>/", policy_views.version_detail, name="policy_version_detail"),
    path("policies/search", policy_views.version_search, name="policy_search"),
    path("prior-authorization/requirements/", policy_views.requirements_list, name="requirements_list"),
    path("prior-authorization/requirements.csv", policy_views.requirements_csv, name="requirements_csv"),
    path("", include("casemgmt.retro.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("audit/", include("casemgmt.audit.urls")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # The split view serves Swagger UI's start-up script from a URL, not inline, for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api_schema", template_name="api_docs/swagger_ui.html"),
        name="api_docs",
    ),
    path("api/v1/", include("casemgmt.api.urls")),
    path("fhir/r4/", include("casemgmt.fhir.urls")),
    path("", include("casemgmt.fhir.cds_urls")),
]
handler403 = "casemgmt.workspace.home.forbidden"
handler404 = "casemgmt.workspace.home.not_found"
