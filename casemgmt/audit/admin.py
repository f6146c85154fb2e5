"""Accounts and groups in the admin, with every change recorded in the audit log.

The audit log itself has no admin: auditors read it at /audit/, and no one edits it.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from casemgmt.audit.recording import AuditedAdminMixin

# Who may sign in, and in which role, is what an access audit asks about first.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdminMixin, GroupAdmin):
    pass
