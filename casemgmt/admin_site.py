"""The admin site: the editors' policy library first, under the product's name.

Installed in place of django.contrib.admin (settings.INSTALLED_APPS), so `admin.site` and every
`@admin.register` in the project use this site without naming it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.contrib.admin.widgets import AdminSplitDateTime
from django.db import models
from django.http import HttpRequest

# The apps and models editors open most, in the order the index lists them; the rest follow
# alphabetically, as Django orders them.
FIRST_APPS = ("policies_app",)
FIRST_MODELS = {"policies_app": ("Policy", "PolicyVersion", "FactDefinition", "RequirementRule")}


class LabelledSplitDateTime(AdminSplitDateTime):
    """Django's split date and time inputs, each with an accessible name: the stock widget prints
    "Date:" and "Time:" as bare text, which screen readers do not tie to the inputs."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.widgets[0].attrs["aria-label"] = "Date"
        self.widgets[1].attrs["aria-label"] = "Time"


class CasemgmtAdminSite(admin.AdminSite):
    site_header = "casemgmt — policy library"
    site_title = "casemgmt admin"
    index_title = "Policy library and administration"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Every model admin, ours and the libraries' (django-celery-beat's schedules), gets the
        labelled date and time inputs unless it chose its own widget."""
        base = admin_class or admin.ModelAdmin
        overrides = {models.DateTimeField: {"widget": LabelledSplitDateTime}, **base.formfield_overrides}
        super().register(model_or_iterable, base, formfield_overrides=overrides, **options)

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)

        def app_rank(app: dict[str, Any]) -> int:
            label = app["app_label"]
            return FIRST_APPS.index(label) if label in FIRST_APPS else len(FIRST_APPS)

        apps.sort(key=app_rank)
        for app in apps:
            first = FIRST_MODELS.get(app["app_label"], ())
            app["models"].sort(key=lambda m: first.index(m["object_name"]) if m["object_name"] in first else len(first))
        return apps


class CasemgmtAdminConfig(AdminConfig):
    default_site = "casemgmt.admin_site.CasemgmtAdminSite"
