"""Every change is recorded by the service that makes it, in its transaction: who, role, where,
what object, and each field changed with its old and new value."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from casemgmt.audit.models import AuditAction, AuditChannel, AuditEvent, AuditObject
from casemgmt.cases.models import ApiToken, CaseStatus, DeadlineRule
from casemgmt.cases.services.assignment import case_claim, case_reassign
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.letters import decision_letter_record
from casemgmt.cases.services.notes import case_note_add, case_peer_to_peer_record
from casemgmt.cases.services.pend import case_pend_for_information
from casemgmt.cases.services.transitions import case_cancel, case_close, case_information_add, case_refer_to_physician
from casemgmt.cases.services.webhooks import webhook_subscribe
from casemgmt.kernel.errors import ConflictError
from casemgmt.kernel.roles import Role
from casemgmt.security.services import api_token_create, roles_sync_permissions
from policies_app import services as policy_services
from tests import factories
from tests.casemgmt.audit.conftest import PNG, api, only, rows, web

pytestmark = pytest.mark.django_db


def change(event: AuditEvent, field: str) -> tuple:
    value = event.changes[field]
    return value["old"], value["new"]


# --- intake and the requester's changes ----------------------------------------------------


def test_submission_over_the_api_records_the_new_case_with_its_fields(integration_client):
    response = api(integration_client, ip="192.0.2.10").post("/api/v1/cases", factories.api_case_body(), format="json")
    assert response.status_code == 201
    number = response.json()["case_number"]
    event = only(action=AuditAction.CREATE, object_type=AuditObject.CASE)
    assert (event.object_id, event.case_number) == (number, number)
    assert (event.actor, event.actor_username, event.roles) == (integration_client, "ehr.client", "integration_client")
    assert (event.channel, event.ip, event.method, event.path) == ("api", "192.0.2.10", "POST", "/api/v1/cases")
    assert event.user_agent == "ehr-client/2.1"
    assert change(event, "member_id") == (None, "M123")
    assert change(event, "status") == (None, "received")
    assert event.changes["service_lines"]["new"][0].startswith("CPT 62330 x1")
    assert event.detail["api_token"] == ApiToken.objects.get(user=integration_client).prefix


def test_added_information_records_old_and_new_facts_and_status(integration_client, nurse):
    case = factories.case(integration_client)
    case_pend_for_information(case_id=case.pk, user=nurse, needed="weeks of therapy")
    case_information_add(case_id=case.pk, user=integration_client, clinical_facts={"conservative_therapy_weeks": 14})
    event = rows(action=AuditAction.CHANGE, case_number=case.case_number, actor=integration_client)[-1]
    assert change(event, "status") == ("pended", "in_review")
    assert change(event, "clinical_facts") == ({}, {"conservative_therapy_weeks": 14})
    assert "clinical_notes" not in event.changes  # unchanged fields are not listed


def test_cancel_records_the_status_change_and_reason(integration_client):
    case = factories.case(integration_client)
    case_cancel(case_id=case.pk, user=integration_client, reason="member withdrew")
    event = only(action=AuditAction.CHANGE, case_number=case.case_number)
    assert change(event, "status") == ("received", "cancelled")
    assert event.detail["reason"] == "member withdrew"


def test_attachment_added_is_recorded_with_its_digest(integration_client):
    case = factories.case(integration_client)
    attachment = attachment_add(
        case_id=case.pk,
        user=integration_client,
        upload=SimpleUploadedFile("scan.png", PNG, content_type="image/png"),
    )
    event = only(action=AuditAction.CREATE, object_type=AuditObject.ATTACHMENT)
    assert (event.object_id, event.case_number) == (str(attachment.pk), case.case_number)
    assert change(event, "sha256") == (None, attachment.sha256)
    assert change(event, "content_type") == (None, "image/png")


def test_webhook_subscription_is_recorded_without_its_secret(integration_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    _, secret = webhook_subscribe(client=integration_client, url="https://hooks.example.org/pa")
    event = only(action=AuditAction.CREATE, object_type=AuditObject.WEBHOOK)
    assert change(event, "url") == (None, "https://hooks.example.org/pa")
    assert secret not in str(event.changes) and secret not in str(event.detail)


# --- reviewers --------------------------------------------------------------------------------


def test_claim_records_assignee_and_status(integration_client, nurse):
    case = factories.case(integration_client)
    web(nurse).post(f"/cases/{case.case_number}/claim")
    event = only(action=AuditAction.CHANGE, case_number=case.case_number)
    assert (event.actor, event.roles, event.channel, event.ip) == (nurse, "nurse_reviewer", "web", "10.1.2.3")
    assert change(event, "assignee") == (None, "nina.nurse")
    assert change(event, "status") == ("received", "in_review")


def test_a_refused_change_leaves_no_row(integration_client, nurse, physician):
    case = factories.case(integration_client)
    case_claim(case_id=case.pk, user=nurse)
    with pytest.raises(ConflictError):
        case_claim(case_id=case.pk, user=physician)
    assert [e.actor for e in rows(action=AuditAction.CHANGE, case_number=case.case_number)] == [nurse]


def test_reassign_records_previous_and_new_assignee(integration_client, nurse, physician, manager):
    case = factories.case(integration_client)
    case_claim(case_id=case.pk, user=nurse)
    case_reassign(case_id=case.pk, user=manager, assignee_id=physician.pk)
    event = rows(action=AuditAction.CHANGE, case_number=case.case_number)[-1]
    assert (event.actor, event.roles) == (manager, "manager")
    assert change(event, "assignee_id") == (nurse.pk, physician.pk)
    assert event.detail["assignee"] == "phil.physician"


def test_pend_records_the_status_change_and_what_is_needed(integration_client, nurse):
    case = factories.case(integration_client)
    web(nurse).post(f"/cases/{case.case_number}/pend", {"needed": "MRI report"})
    event = only(action=AuditAction.CHANGE, case_number=case.case_number)
    assert change(event, "status") == ("received", "pended")
    assert event.detail["needed"] == "MRI report"


def test_refer_records_the_status_change(integration_client, nurse):
    case = factories.case(integration_client)
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="possible denial")
    assert change(only(action=AuditAction.CHANGE, case_number=case.case_number), "status") == (
        "received",
        "physician_review",
    )


def test_decision_records_the_outcome_per_line_and_the_role_decided_in(integration_client, version):
    both = factories.user("dual.reviewer", Role.NURSE, Role.PHYSICIAN)
    case = factories.case(integration_client)
    decision = decision_record(
        case_id=case.pk,
        user=both,
        lines=[DecisionLineInput(service_line=1, outcome="denied", reason="Unproven.")],
        citations=[CitationInput(policy_version_id=version.pk)],
    )
    event = only(action=AuditAction.CREATE, object_type=AuditObject.DECISION)
    assert (event.object_id, event.case_number) == (str(decision.pk), case.case_number)
    assert event.roles == "physician_reviewer"  # the role it was made in, not every role held
    assert change(event, "line 1") == (None, "denied")
    assert change(event, "status") == ("received", "decided")
    assert change(event, "decision_of_record") == (None, decision.pk)
    assert event.detail["citations"] == {"1": [version.pk]}  # by the line each rests under


def test_close_records_the_status_change(world, manager):
    case_close(case_id=world.case.pk, user=manager)
    event = rows(action=AuditAction.CHANGE, case_number=world.case.case_number)[-1]
    assert change(event, "status") == ("decided", "closed")


def test_note_is_recorded_as_created(integration_client, physician):
    case = factories.case(integration_client)
    note = case_note_add(case_id=case.pk, user=physician, text="Called the clinic.")
    event = only(action=AuditAction.CREATE, object_type=AuditObject.NOTE)
    assert (event.object_id, event.case_number) == (str(note.pk), case.case_number)
    assert change(event, "text") == (None, "Called the clinic.")


def test_peer_to_peer_is_recorded(world, physician):
    case_peer_to_peer_record(
        case_id=world.case.pk,
        user=physician,
        requesting_physician="Dr. Requester",
        held_at=timezone.now() - timedelta(minutes=5),
        summary="Discussed the imaging.",
        outcome="upheld",
    )
    event = only(action=AuditAction.CREATE, object_type=AuditObject.PEER_TO_PEER)
    assert change(event, "requesting_physician") == (None, "Dr. Requester")
    assert change(event, "outcome") == (None, "upheld")


def test_letter_produced_is_recorded(world, nurse):
    decision_letter_record(decision_id=world.decision.pk, user=nurse, recipient="provider")
    event = only(action=AuditAction.CREATE, object_type=AuditObject.LETTER)
    assert (event.object_id, event.case_number, event.detail["recipient"]) == (
        str(world.decision.pk),
        world.case.case_number,
        "provider",
    )


def test_long_text_is_kept_as_its_digest(integration_client, physician):
    case = factories.case(integration_client)
    text = "x" * 3000
    case_note_add(case_id=case.pk, user=physician, text=text)
    new = only(action=AuditAction.CREATE, object_type=AuditObject.NOTE).changes["text"]["new"]
    assert new["length"] == 3000 and len(new["sha256"]) == 64


# --- the system -------------------------------------------------------------------------------


def test_reflag_by_a_task_is_recorded_as_the_system_on_the_task_channel(
    integration_client, editor, django_capture_on_commit_callbacks
):
    case = factories.case(integration_client)
    # Publishing a version enqueues the re-flag task at commit (in-process here), which changes the flags.
    with django_capture_on_commit_callbacks(execute=True):
        factories.publish(factories.draft_version(), editor)
    event = only(action=AuditAction.CHANGE, case_number=case.case_number)
    assert (event.actor, event.actor_username, event.channel) == (None, "system", AuditChannel.TASK)
    assert event.detail["task"] == "policies_app.tasks.policy_version_reflag_open_cases_task"
    old, new = change(event, "flags")
    assert old == [] and new and new[0].startswith("1:investigational:")


# --- tokens, policies, admin ------------------------------------------------------------------


def test_token_created_by_the_command_is_recorded_on_the_command_channel(integration_client):
    call_command("create_api_token", integration_client.username, label="EHR")
    event = only(action=AuditAction.CREATE, object_type=AuditObject.API_TOKEN)
    assert (event.actor_username, event.channel) == ("system", AuditChannel.COMMAND)
    assert change(event, "client") == (None, "ehr.client")
    assert change(event, "label") == (None, "EHR")


def test_token_revoked_in_the_admin_is_recorded_on_the_admin_channel(integration_client, manager):
    roles_sync_permissions()
    manager.is_staff = True
    manager.save()
    token, _ = api_token_create(user=integration_client)
    response = web(manager).post(f"/admin/casemgmt/apitoken/{token.pk}/revoke/")
    assert response.status_code == 302
    event = only(action=AuditAction.CHANGE, object_type=AuditObject.API_TOKEN)
    assert (event.actor, event.channel, event.path) == (
        manager,
        "admin",
        f"/admin/casemgmt/apitoken/{token.pk}/revoke/",
    )
    assert change(event, "revoked_at")[0] is None


def test_policy_version_status_changes_are_recorded(editor):
    version = factories.draft_version()
    # A second editor submits: the one who submits a version cannot publish it.
    second = factories.second_editor()
    policy_services.policy_version_submit_for_review(version_id=version.pk, user=second)
    policy_services.policy_version_publish(version_id=version.pk, user=editor)
    policy_services.policy_version_retire(version_id=version.pk, user=editor)
    events = rows(object_type=AuditObject.POLICY_VERSION, object_id=str(version.pk))
    assert [(change(e, "status"), e.actor) for e in events] == [
        (("draft", "in_review"), second),
        (("in_review", "published"), editor),
        (("published", "retired"), editor),
    ]


def test_admin_edit_records_old_and_new_values(manager):
    roles_sync_permissions()
    manager.is_staff = True
    manager.save()
    rule = DeadlineRule.objects.get(review_type="retrospective", urgency="", line_of_business="")
    response = web(manager).post(
        f"/admin/casemgmt/deadlinerule/{rule.pk}/change/",
        {
            "review_type": rule.review_type,
            "urgency": "",
            "line_of_business": "",
            "hours": 700,
            "pend_extension_hours": rule.pend_extension_hours,
            "source": rule.source,
        },
    )
    assert response.status_code == 302
    event = only(object_type="casemgmt.deadlinerule")
    assert (event.action, event.object_id, event.channel) == (AuditAction.CHANGE, str(rule.pk), "admin")
    assert change(event, "hours") == (720, 700)
    assert list(event.changes) == ["hours"]


def test_admin_password_change_records_that_it_changed_not_the_password(nurse, django_user_model):
    boss = django_user_model.objects.create_superuser("root", password="x-long-enough-pass-123")
    response = web(boss).post(
        f"/admin/auth/user/{nurse.pk}/password/",
        {"password1": "Brand-new-pass-0042", "password2": "Brand-new-pass-0042", "usable_password": "true"},
    )
    assert response.status_code == 302
    event = only(object_type="auth.user", action=AuditAction.CHANGE)
    assert "Brand-new-pass-0042" not in str(event.changes)
    assert event.changes == {"password": {"old": "(secret; not recorded)", "new": "(secret; not recorded)"}}


def test_a_case_life_is_recorded_end_to_end(integration_client, nurse, physician, version):
    """Submit, claim, pend, answer, refer, decide: one row for each change, in order."""
    case = factories.case(integration_client)
    case_claim(case_id=case.pk, user=nurse)
    case_pend_for_information(case_id=case.pk, user=nurse, needed="notes")
    case_information_add(case_id=case.pk, user=integration_client, clinical_facts={}, clinical_notes="PT x12")
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="deny?")
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[DecisionLineInput(service_line=1, outcome="approved")],
        citations=[],
    )
    case.refresh_from_db()
    assert case.status == CaseStatus.DECIDED
    events = rows(case_number=case.case_number)
    assert [(e.action, e.actor_username) for e in events] == [
        ("create", "ehr.client"),
        ("change", "nina.nurse"),
        ("change", "nina.nurse"),
        ("change", "ehr.client"),
        ("change", "nina.nurse"),
        ("create", "phil.physician"),  # the decision
        ("create", "phil.physician"),  # the authorization it issues for the approved line
    ]
