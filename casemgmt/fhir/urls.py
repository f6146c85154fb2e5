"""The FHIR R4 base, /fhir/r4/: PAS operations, SMART backend tokens, subscriptions, DTR."""

from __future__ import annotations

from django.urls import path, re_path

from casemgmt.fhir import dtr_views, inquiry_views, smart_views, subscription_views, views

app_name = "fhir"

urlpatterns: list = [
    path("metadata", views.MetadataView.as_view(), name="metadata"),
    path("Claim/$submit", views.ClaimSubmitView.as_view(), name="claim_submit"),
    path("Claim/$inquire", inquiry_views.ClaimInquireView.as_view(), name="claim_inquire"),
    path("auth/token", smart_views.TokenView.as_view(), name="token"),
    path("Subscription", subscription_views.SubscriptionCollectionView.as_view(), name="subscription_create"),
    path("Subscription/<int:subscription_id>", subscription_views.SubscriptionView.as_view(), name="subscription"),
    path(
        "Subscription/<int:subscription_id>/$status",
        subscription_views.SubscriptionStatusView.as_view(),
        name="subscription_status",
    ),
    path(".well-known/smart-configuration", smart_views.SmartConfigurationView.as_view(), name="smart_configuration"),
    path(
        "Questionnaire/$questionnaire-package",
        dtr_views.QuestionnairePackageView.as_view(),
        name="questionnaire_package",
    ),
    path("Questionnaire", dtr_views.QuestionnaireSearchView.as_view(), name="questionnaire_search"),
    # A FHIR id: letters, digits, '-' and '.', up to 64.
    re_path(
        r"^Questionnaire/(?P<questionnaire_id>[A-Za-z0-9.-]{1,64})$",
        dtr_views.QuestionnaireView.as_view(),
        name="questionnaire",
    ),
]
