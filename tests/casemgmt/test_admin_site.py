"""The admin site: the product's name, and the policy library first on its index."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from casemgmt.security.services import roles_sync_permissions

pytestmark = pytest.mark.django_db


def test_the_admin_is_named_for_the_product_not_django(editor: User) -> None:
    roles_sync_permissions()
    browser = Client()
    browser.force_login(editor)

    page = browser.get("/admin/").content.decode()

    assert "casemgmt — policy library" in page
    assert "Django administration" not in page


def test_the_policy_library_comes_first_on_the_index_policies_before_versions(admin_user: User) -> None:
    browser = Client()
    browser.force_login(admin_user)

    apps = browser.get("/admin/").context["app_list"]

    assert apps[0]["app_label"] == "policies_app"
    assert [m["object_name"] for m in apps[0]["models"]][:3] == ["Policy", "PolicyVersion", "FactDefinition"]
    rest = [str(app["name"]) for app in apps[1:]]
    assert rest == sorted(rest, key=str.lower)


def test_split_date_and_time_inputs_have_accessible_names_even_in_a_librarys_admin(admin_user: User) -> None:
    """axe's `label` rule: django-celery-beat's schedule form uses Django's split date-time widget."""
    browser = Client()
    browser.force_login(admin_user)

    page = browser.get("/admin/django_celery_beat/periodictask/add/").content.decode()

    assert 'name="start_time_0"' in page
    assert 'aria-label="Date"' in page
    assert 'aria-label="Time"' in page
