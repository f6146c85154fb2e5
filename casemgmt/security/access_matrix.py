"""Who may do what: every page, API endpoint and admin model, for every role, written as data.

This is the product's access policy in one place. tests/reliability/test_permission_matrix.py
makes every request in it as every persona and checks the answer is exactly the one written
here; it also fails when the URL map or the admin has something without a row, so a new page
cannot ship without saying who may use it. docs/security.md shows the same table, rendered by
`manage.py access_matrix` (a test keeps the two equal).

The services enforce the rules (casemgmt/kernel/roles.py, `require_role`); this module states them.

Answers:
- `allow`: the request is served (the statuses in `Entry.ok`).
- `sign-in`: not signed in (or, for the admin, not staff): the pages and the admin redirect to
  their sign-in page, the API answers 401.
- `403`: signed in, but the role may not do this. Said without looking the object up, so a 403
  tells nothing about whether a case exists.
- `404`: the object is hidden. An integration client sees only the cases it submitted; to it
  another client's case does not exist (and a role that may not see a case at all through the
  API gets the same answer). The admin hides an app's index from staff with nothing in it.

Personas: the roles of casemgmt/kernel/roles.py, plus `anonymous` (not signed in), `outsider` (signed
in, no role) and two integration clients, one that submitted the fixture case (`client`) and
one that did not (`other_client`). Every role but the integration clients and the claims system
is staff, as `demo_user_ensure` makes them: staff status opens the admin's door, and what each sees there is
its group's permissions (`casemgmt.security.services.ROLE_ADMIN_PERMISSIONS`). Superusers are not a role:
they bypass the matrix and are for the plan's administrators only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Persona(StrEnum):
    ANONYMOUS = "anonymous"
    NURSE = "nurse"
    PHYSICIAN = "physician"
    EDITOR = "editor"
    MANAGER = "manager"
    AUDITOR = "auditor"
    CLIENT = "client"
    OTHER_CLIENT = "other_client"
    CLAIMS_SYSTEM = "claims_system"
    OUTSIDER = "outsider"


PERSONA_LABELS: dict[Persona, str] = {
    Persona.ANONYMOUS: "anonymous",
    Persona.NURSE: "nurse reviewer",
    Persona.PHYSICIAN: "physician reviewer",
    Persona.EDITOR: "policy editor",
    Persona.MANAGER: "manager",
    Persona.AUDITOR: "auditor",
    Persona.CLIENT: "integration client (its own case)",
    Persona.OTHER_CLIENT: "integration client (another's case)",
    Persona.CLAIMS_SYSTEM: "claims system",
    Persona.OUTSIDER: "signed in, no role",
}

# Accounts with is_staff (the admin's door); see the module docstring.
STAFF = frozenset({Persona.NURSE, Persona.PHYSICIAN, Persona.EDITOR, Persona.MANAGER, Persona.AUDITOR})
SIGNED_IN = frozenset(Persona) - {Persona.ANONYMOUS}
REVIEWERS = frozenset({Persona.NURSE, Persona.PHYSICIAN, Persona.MANAGER})
DECIDERS = frozenset({Persona.NURSE, Persona.PHYSICIAN})
CLIENTS = frozenset({Persona.CLIENT, Persona.OTHER_CLIENT})
POLICY_VIEWERS = frozenset({Persona.NURSE, Persona.PHYSICIAN, Persona.MANAGER, Persona.EDITOR})


class Access(StrEnum):
    ALLOW = "allow"
    SIGN_IN = "sign-in"
    FORBIDDEN = "403"
    HIDDEN = "404"


class Surface(StrEnum):
    PAGE = "page"
    API = "api"
    ADMIN = "admin"


class AdminAction(StrEnum):
    """What an admin model row is about: Django's four model permissions."""

    VIEW = "view"  # GET the list, an object's page and its history
    ADD = "add"  # GET the add form
    CHANGE = "change"  # POST an object's change form
    DELETE = "delete"  # GET the delete confirmation


@dataclass(frozen=True)
class Entry:
    surface: Surface
    # A URL name ("case_detail", "admin:index") or, for admin model rows, the model's label
    # ("policies_app.policyversion").
    name: str
    # GET/POST for pages and the API; an AdminAction for admin model rows.
    method: str
    # An example path; {case}, {decision}, {attachment}, {version}, {draft}, {object}, ... are
    # filled in by the test from its fixture data.
    path: str
    access: Mapping[Persona, Access]
    rule: str
    # The statuses an allowed request gets.
    ok: tuple[int, ...] = (200,)
    # For admin rows: which object the row is about when it matters ("draft version").
    variant: str = ""

    @property
    def key(self) -> str:
        variant = f" ({self.variant})" if self.variant else ""
        return f"{self.surface} {self.method} {self.name}{variant}"

    def __post_init__(self) -> None:
        missing = set(Persona) - set(self.access)
        if missing:
            raise ValueError(f"{self.key}: the row must name every persona; missing {sorted(missing)}")


def grant(
    allowed: Iterable[Persona],
    *,
    otherwise: Access = Access.FORBIDDEN,
    anonymous: Access = Access.SIGN_IN,
    **exceptions: Access,
) -> dict[Persona, Access]:
    """A row: `allowed` may, anonymous must sign in, everyone else gets `otherwise`, with exceptions."""
    allowed = frozenset(allowed)
    row = {
        persona: Access.ALLOW if persona in allowed else (anonymous if persona == Persona.ANONYMOUS else otherwise)
        for persona in Persona
    }
    for name, access in exceptions.items():
        row[Persona(name)] = access
    return row


EVERYONE = grant(Persona)
# The admin: non-staff accounts are sent to the admin's sign-in page like anonymous visitors.
ADMIN_NOT_STAFF = {p: Access.SIGN_IN for p in Persona if p not in STAFF}


def admin_grant(allowed: Iterable[Persona], *, staff_otherwise: Access = Access.FORBIDDEN) -> dict[Persona, Access]:
    allowed = frozenset(allowed)
    row = {p: (Access.ALLOW if p in allowed else staff_otherwise) for p in STAFF}
    return {**ADMIN_NOT_STAFF, **row}


def _page(
    name: str, method: str, path: str, access: Mapping[Persona, Access], rule: str, ok: tuple[int, ...] | None = None
) -> Entry:
    return Entry(Surface.PAGE, name, method, path, access, rule, ok or ((200,) if method == "GET" else (302,)))


def _api(
    name: str, method: str, path: str, access: Mapping[Persona, Access], rule: str, ok: tuple[int, ...] | None = None
) -> Entry:
    return Entry(Surface.API, name, method, path, access, rule, ok or ((200,) if method == "GET" else (201,)))


# --- pages ---------------------------------------------------------------------------------

# Reviewer pages refuse every other role with a 403 before looking anything up.
REVIEWER_PAGE = grant(REVIEWERS)

PAGES: list[Entry] = [
    _page("home", "GET", "/", grant(SIGNED_IN), "Sends each role to its start page.", ok=(302,)),
    _page("login", "GET", "/login/", EVERYONE, "The sign-in page."),
    _page(
        "login",
        "POST",
        "/login/",
        EVERYONE,
        "Anyone may try to sign in; repeated failures lock the username from that address (django-axes).",
        ok=(200, 302),
    ),
    _page("logout", "POST", "/logout/", EVERYONE, "Signing out.", ok=(302,)),
    _page("healthz", "GET", "/healthz", EVERYONE, "Liveness for load balancers: no data beyond ok/error."),
    _page("queue", "GET", "/queue/", REVIEWER_PAGE, "The work queue: reviewers and managers."),
    _page(
        "queue",
        "POST",
        "/queue/",
        REVIEWER_PAGE,
        "The queue's filter form, POSTed so a member id searched for never goes in a URL.",
        ok=(302,),
    ),
    _page(
        "queue_next_case",
        "POST",
        "/queue/next",
        grant(DECIDERS),
        "Nurse and physician reviewers take the most urgent unclaimed case they may work; a manager assigns instead.",
    ),
    _page(
        "queue_filter_save",
        "POST",
        "/queue/filters/save",
        REVIEWER_PAGE,
        "Reviewers and managers save their own named queue filters (never a search term).",
    ),
    _page(
        "queue_filter_delete",
        "POST",
        "/queue/filters/{saved_filter}/delete",
        REVIEWER_PAGE,
        "Reviewers and managers delete their own saved filters; another user's is not found (404).",
        ok=(302, 404),
    ),
    _page(
        "case_detail", "GET", "/cases/{case}/", REVIEWER_PAGE, "A case with its member data: reviewers and managers."
    ),
    _page(
        "case_fact",
        "POST",
        "/cases/{case}/lines/1/fact",
        REVIEWER_PAGE,
        "Reviewers and managers record a fact found in the documentation (audited; the checklist is evaluated again).",
    ),
    _page(
        "case_decide",
        "POST",
        "/cases/{case}/decide",
        grant(DECIDERS),
        "Nurse and physician reviewers decide (only a physician may deny); a manager does not.",
    ),
    _page(
        "case_refer",
        "POST",
        "/cases/{case}/refer",
        grant(DECIDERS),
        "Nurse and physician reviewers refer to physician review.",
    ),
    _page("case_note", "POST", "/cases/{case}/note", grant(DECIDERS), "Nurse and physician reviewers add notes."),
    _page(
        "case_pend",
        "POST",
        "/cases/{case}/pend",
        grant(DECIDERS),
        "Nurse and physician reviewers pend for information.",
    ),
    _page(
        "case_peer_to_peer",
        "POST",
        "/cases/{case}/peer-to-peer",
        grant({Persona.PHYSICIAN}),
        "Only a physician reviewer records a peer-to-peer discussion.",
    ),
    _page(
        "case_appeal",
        "POST",
        "/cases/{decided_case}/appeal",
        REVIEWER_PAGE,
        "Reviewers and managers record an appeal received by phone or mail (a late one: managers).",
    ),
    _page(
        "case_reopen",
        "POST",
        "/cases/{decided_case}/reopen",
        grant({Persona.PHYSICIAN, Persona.MANAGER}),
        "Physician reviewers and managers reopen a decided case.",
    ),
    _page("case_claim", "POST", "/cases/{case}/claim", grant(DECIDERS), "Nurse and physician reviewers claim cases."),
    _page("case_reassign", "POST", "/cases/{case}/reassign", grant({Persona.MANAGER}), "Managers reassign cases."),
    _page(
        "case_attachment_view",
        "GET",
        "/cases/{case}/attachments/{attachment}/view",
        REVIEWER_PAGE,
        "An attachment, streamed after the check: reviewers and managers.",
    ),
    _page(
        "case_letter",
        "GET",
        "/cases/{decided_case}/letter/{decision}/",
        REVIEWER_PAGE,
        "A decision letter: reviewers and managers.",
    ),
    _page(
        "case_letter_pdf",
        "GET",
        "/cases/{decided_case}/letter/{decision}.pdf",
        REVIEWER_PAGE,
        "A decision letter as PDF (recorded as produced): reviewers and managers.",
    ),
    _page(
        "policy_version_detail",
        "GET",
        "/policies/versions/{version}/",
        REVIEWER_PAGE,
        "A published policy version for reviewers; editors use the admin.",
    ),
    _page(
        "policy_search",
        "GET",
        "/policies/search?q=TP",
        REVIEWER_PAGE,
        "The policy search behind the decision form's citations.",
    ),
    _page(
        "requirements_list",
        "GET",
        "/prior-authorization/requirements/",
        EVERYONE,
        "The public list of services requiring prior authorization (CMS-0057-F): published rules, no member.",
    ),
    _page(
        "requirements_csv",
        "GET",
        "/prior-authorization/requirements.csv",
        EVERYONE,
        "The same public list as CSV.",
    ),
    _page("dashboard", "GET", "/dashboard/", grant({Persona.MANAGER}), "The manager dashboard."),
    _page(
        "dashboard_export",
        "GET",
        "/dashboard/export.csv",
        grant({Persona.MANAGER}),
        "The dashboard's figures as CSV (aggregates, no member data).",
    ),
    _page(
        "dashboard_report",
        "GET",
        "/dashboard/report/?year=2025",
        grant({Persona.MANAGER}),
        "The CMS-0057-F public report (aggregates, public data once posted): managers produce it.",
    ),
    _page(
        "dashboard_report_export",
        "GET",
        "/dashboard/report.csv?year=2025",
        grant({Persona.MANAGER}),
        "The CMS-0057-F public report as CSV, each metric with its formula: managers.",
    ),
    _page(
        "gold_cards",
        "GET",
        "/gold-cards/",
        REVIEWER_PAGE,
        "Gold cards with their evidence: reviewers read them (an approval at intake names one), managers "
        "grant and revoke. Not auditors (the audit log records every grant and revocation) nor clients.",
    ),
    _page("gold_card_grant", "POST", "/gold-cards/grant", grant({Persona.MANAGER}), "Managers grant a gold card."),
    _page(
        "gold_card_revoke",
        "POST",
        "/gold-cards/1/revoke",
        grant({Persona.MANAGER}),
        "Managers revoke a gold card, with a reason.",
    ),
    _page(
        "api_schema",
        "GET",
        "/api/schema/",
        EVERYONE,
        "The OpenAPI schema: public documentation of the API, no data.",
    ),
    _page("api_docs", "GET", "/api/docs/", EVERYONE, "Swagger UI over the schema."),
    _page(
        "api_docs",
        "GET",
        "/api/docs/?script=",
        EVERYONE,
        "Swagger UI's start-up script (served from a URL for the Content Security Policy).",
    ),
]

# --- the admin's own pages -------------------------------------------------------------------

ADMIN_STAFF = admin_grant(STAFF)
# Staff who may read policies (view permission) open the policy tools; editors also act.
POLICY_ADMIN_READERS = admin_grant(POLICY_VIEWERS)

ADMIN_PAGES: list[Entry] = [
    _page("admin:index", "GET", "/admin/", ADMIN_STAFF, "Staff open the admin; each sees only its models.", ok=(200,)),
    _page(
        "admin:login",
        "GET",
        "/admin/login/",
        EVERYONE,
        "The admin's sign-in page (signed-in staff are sent on to the index).",
        ok=(200, 302),
    ),
    _page(
        "admin:login",
        "POST",
        "/admin/login/",
        EVERYONE,
        "Anyone may try; the same lockout as the pages' sign-in.",
        ok=(200, 302),
    ),
    _page(
        "admin:logout",
        "POST",
        "/admin/logout/",
        EVERYONE,
        "Signing out of the admin (whoever is not staff is just sent to the admin's index).",
        ok=(302,),
    ),
    _page("admin:password_change", "GET", "/admin/password_change/", ADMIN_STAFF, "Staff change their own password."),
    _page(
        "admin:password_change",
        "POST",
        "/admin/password_change/",
        ADMIN_STAFF,
        "Staff change their own password (the old one is required).",
        ok=(200, 302),
    ),
    _page("admin:password_change_done", "GET", "/admin/password_change/done/", ADMIN_STAFF, "Confirmation page."),
    _page("admin:jsi18n", "GET", "/admin/jsi18n/", ADMIN_STAFF, "The admin's translated script strings."),
    _page(
        "admin:autocomplete",
        "GET",
        "/admin/autocomplete/?app_label=policies_app&model_name=policyversion&field_name=policy&term=T",
        {**POLICY_ADMIN_READERS},
        "Choosing a version's policy: staff who may view policies.",
    ),
    _page(
        "admin:app_list",
        "GET",
        "/admin/policies_app/",
        admin_grant(POLICY_VIEWERS, staff_otherwise=Access.HIDDEN),
        "An app's index, for staff with a permission in it; hidden from other staff.",
    ),
    _page(
        "admin:app_list",
        "GET",
        "/admin/casemgmt/",
        admin_grant({Persona.MANAGER}, staff_otherwise=Access.HIDDEN),
        "The casemgmt app's index (deadline rules, API tokens): managers.",
    ),
    _page(
        "admin:view_on_site",
        "GET",
        "/admin/r/{policy_content_type}/{policy}/",
        admin_grant((), staff_otherwise=Access.HIDDEN),
        "'View on site' links: no model has a public page, so staff get 404.",
    ),
    _page(
        "admin catch-all",
        "GET",
        "/admin/no-such-page/",
        admin_grant((), staff_otherwise=Access.HIDDEN),
        "Unknown admin URLs: 404 for staff, the sign-in page for everyone else.",
    ),
    _page(
        "admin:policies_app_policyversion_transition",
        "POST",
        "/admin/policies_app/policyversion/{draft}/transition/submit/",
        admin_grant({Persona.EDITOR}),
        "Workflow (submit, publish, retire...): policy editors; the service checks again.",
    ),
    _page(
        "admin:policies_app_policyversion_draft_from",
        "GET",
        "/admin/policies_app/policyversion/{version}/draft-from/",
        admin_grant({Persona.EDITOR}),
        "A new draft from a version: policy editors.",
    ),
    _page(
        "admin:policies_app_policyversion_draft_from",
        "POST",
        "/admin/policies_app/policyversion/{version}/draft-from/",
        admin_grant({Persona.EDITOR}),
        "Creating the new draft: policy editors.",
        ok=(200, 302),
    ),
    _page(
        "admin:policies_app_policy_import",
        "GET",
        "/admin/policies_app/policy/import/",
        admin_grant({Persona.EDITOR}),
        "Importing a payer's policy document: policy editors.",
    ),
    _page(
        "admin:policies_app_policy_import",
        "POST",
        "/admin/policies_app/policy/import/",
        admin_grant({Persona.EDITOR}),
        "Reading a document or creating its draft: policy editors; the import service checks again.",
        ok=(200, 302),
    ),
    _page(
        "admin:policies_app_policyversion_compare",
        "GET",
        "/admin/policies_app/policyversion/{version}/compare/",
        POLICY_ADMIN_READERS,
        "Comparing versions: whoever may view policy versions.",
    ),
    _page(
        "admin:policies_app_policyversion_diff",
        "GET",
        "/admin/policies_app/policyversion/{version}/diff/{draft}/",
        POLICY_ADMIN_READERS,
        "Two versions side by side: whoever may view policy versions.",
    ),
    _page(
        "admin:policies_app_policyversion_try",
        "GET",
        "/admin/policies_app/policyversion/{version}/try/",
        POLICY_ADMIN_READERS,
        "Trying a version on a sample request (nothing saved): whoever may view policy versions.",
    ),
    _page(
        "admin:policies_app_policyversion_try",
        "POST",
        "/admin/policies_app/policyversion/{version}/try/",
        POLICY_ADMIN_READERS,
        "Running the sample request (nothing saved): whoever may view policy versions.",
        ok=(200,),
    ),
    _page(
        "admin:auth_user_password_change",
        "GET",
        "/admin/auth/user/{user}/password/",
        admin_grant(()),
        "Setting another account's password: superusers only.",
    ),
    _page(
        "admin:casemgmt_apitoken_revoke",
        "POST",
        "/admin/casemgmt/apitoken/{token}/revoke/",
        admin_grant({Persona.MANAGER}),
        "Revoking an integration client's API token: managers.",
    ),
]

# --- the API ---------------------------------------------------------------------------------

# An integration client sees its own cases; reviewers see all; to anyone else a case does not exist.
READ_CASE = grant({Persona.CLIENT, *REVIEWERS}, otherwise=Access.HIDDEN, anonymous=Access.SIGN_IN)
# Any signed-in account gets a list, filtered to what it may see.
ANY_ACCOUNT = grant(SIGNED_IN)
CLIENTS_CREATE = grant(CLIENTS)


def _case_write(allowed: Iterable[Persona], **forbidden_roles: Access) -> dict[Persona, Access]:
    """A write on the case: who may not see it gets 404; who sees it but may not act, 403."""
    row = grant(allowed, otherwise=Access.HIDDEN)
    for persona in {Persona.CLIENT, *REVIEWERS} - frozenset(allowed):
        row[persona] = Access.FORBIDDEN
    row.update({Persona(k): v for k, v in forbidden_roles.items()})
    return row


API: list[Entry] = [
    _api("api_cases", "GET", "/api/v1/cases", ANY_ACCOUNT, "Lists the cases the caller may see (none for most)."),
    _api("api_cases", "POST", "/api/v1/cases", CLIENTS_CREATE, "Integration clients submit requests."),
    _api("api_case_detail", "GET", "/api/v1/cases/{case}", READ_CASE, "A case: its submitter and reviewers."),
    _api("api_case_decisions", "GET", "/api/v1/cases/{case}/decisions", READ_CASE, "Decisions with citations."),
    _api(
        "api_case_decisions",
        "POST",
        "/api/v1/cases/{case}/decisions",
        _case_write(DECIDERS),
        "Nurse and physician reviewers decide; the submitter and a manager may not.",
    ),
    _api(
        "api_case_information",
        "POST",
        "/api/v1/cases/{case}/information",
        _case_write({Persona.CLIENT}),
        "Only the submitting client adds information.",
        ok=(200,),
    ),
    _api(
        "api_case_cancel",
        "POST",
        "/api/v1/cases/{case}/cancel",
        _case_write({Persona.CLIENT, Persona.MANAGER}),
        "The submitting client withdraws; a manager cancels.",
        ok=(200,),
    ),
    _api(
        "api_case_pend",
        "POST",
        "/api/v1/cases/{case}/pend",
        _case_write(DECIDERS),
        "Nurse and physician reviewers pend for information.",
        ok=(200,),
    ),
    # The matrix posts these with an empty body to a case whose line was approved: an answer of
    # 400 (the body checked) shows the request got past the access check.
    _api(
        "api_case_appeals",
        "POST",
        "/api/v1/cases/{decided_case}/appeals",
        _case_write({Persona.CLIENT, *REVIEWERS}),
        "The submitting client appeals a decision; reviewers and managers record an appeal received by phone or mail.",
        ok=(201,),
    ),
    _api(
        "api_case_reopen",
        "POST",
        "/api/v1/cases/{decided_case}/reopen",
        _case_write({Persona.PHYSICIAN, Persona.MANAGER}),
        "Physician reviewers and managers reopen a decided case.",
        ok=(200,),
    ),
    _api(
        "api_case_attachments",
        "GET",
        "/api/v1/cases/{case}/attachments",
        READ_CASE,
        "A case's attachments: its submitter and reviewers.",
    ),
    _api(
        "api_case_attachments",
        "POST",
        "/api/v1/cases/{case}/attachments",
        _case_write({Persona.CLIENT, *DECIDERS}),
        "The submitting client and nurse or physician reviewers add documents.",
    ),
    _api(
        "api_case_attachment_download",
        "GET",
        "/api/v1/cases/{case}/attachments/{attachment}",
        READ_CASE,
        "One attachment's bytes: its case's submitter and reviewers.",
    ),
    _api(
        "api_coverage",
        "GET",
        "/api/v1/coverage?code=62330&code_system=CPT&date_of_service=2026-12-01&line_of_business=commercial",
        grant(SIGNED_IN - {Persona.OUTSIDER}),
        "Which policy governs a service: not case data; every role may ask, an account without one may not.",
    ),
    _api(
        "api_reports_cms_0057f",
        "GET",
        "/api/v1/reports/cms-0057f?year=2025",
        grant({Persona.MANAGER}),
        "The CMS-0057-F public report: aggregates meant for publication, but produced by managers, "
        "who decide when a year's figures are final and post them.",
    ),
    _api("api_webhooks", "GET", "/api/v1/webhooks", ANY_ACCOUNT, "Lists the caller's own webhooks (none for most)."),
    _api("api_webhooks", "POST", "/api/v1/webhooks", CLIENTS_CREATE, "Integration clients register webhooks."),
]

# --- admin models ------------------------------------------------------------------------------


def _model(label: str, action: AdminAction, allowed: Iterable[Persona], rule: str, *, variant: str = "") -> Entry:
    path = {
        AdminAction.VIEW: "/admin/{app}/{model}/",
        AdminAction.ADD: "/admin/{app}/{model}/add/",
        AdminAction.CHANGE: "/admin/{app}/{model}/{object}/change/",
        AdminAction.DELETE: "/admin/{app}/{model}/{object}/delete/",
    }[action]
    app, model = label.split(".")
    return Entry(
        Surface.ADMIN,
        label,
        action.value,
        path.format(app=app, model=model, object="{object}"),
        admin_grant(allowed),
        rule,
        ok=(200, 302) if action == AdminAction.CHANGE else (200,),
        variant=variant,
    )


def _model_rows(
    label: str,
    *,
    view: Iterable[Persona] = (),
    add: Iterable[Persona] = (),
    change: Iterable[Persona] = (),
    delete: Iterable[Persona] = (),
    rule: str,
) -> list[Entry]:
    return [
        _model(label, AdminAction.VIEW, view, rule),
        _model(label, AdminAction.ADD, add, rule),
        _model(label, AdminAction.CHANGE, change, rule),
        _model(label, AdminAction.DELETE, delete, rule),
    ]


EDITOR = {Persona.EDITOR}
MANAGER = {Persona.MANAGER}
SUPERUSERS_ONLY = "Superusers only (the plan's administrators); no role has a permission."

ADMIN_MODELS: list[Entry] = [
    *_model_rows(
        "policies_app.policy",
        view=POLICY_VIEWERS,
        add=EDITOR,
        change=EDITOR,
        delete=EDITOR,
        rule="Editors maintain policies; reviewers and managers read them.",
    ),
    _model(
        "policies_app.policyversion",
        AdminAction.VIEW,
        POLICY_VIEWERS,
        "Editors maintain versions; reviewers and managers read them.",
    ),
    _model("policies_app.policyversion", AdminAction.ADD, EDITOR, "Editors draft versions."),
    _model(
        "policies_app.policyversion",
        AdminAction.CHANGE,
        EDITOR,
        "Editors edit drafts.",
        variant="draft",
    ),
    _model(
        "policies_app.policyversion",
        AdminAction.CHANGE,
        (),
        "A published version is frozen for everyone; a change is a new draft.",
        variant="published",
    ),
    _model("policies_app.policyversion", AdminAction.DELETE, EDITOR, "Editors delete drafts.", variant="draft"),
    _model(
        "policies_app.policyversion",
        AdminAction.DELETE,
        (),
        "A published version is never deleted.",
        variant="published",
    ),
    _model(
        "policies_app.requirementrule",
        AdminAction.VIEW,
        POLICY_VIEWERS,
        "Editors keep which services need prior authorization; reviewers and managers read the rules.",
    ),
    _model("policies_app.requirementrule", AdminAction.ADD, EDITOR, "Editors draft requirement rules."),
    _model("policies_app.requirementrule", AdminAction.CHANGE, EDITOR, "Editors edit draft rules.", variant="draft"),
    _model(
        "policies_app.requirementrule",
        AdminAction.CHANGE,
        (),
        "A published rule is frozen for everyone; a change is a new version.",
        variant="published",
    ),
    _model("policies_app.requirementrule", AdminAction.DELETE, (), "A rule is never deleted; it is retired."),
    *_model_rows(
        "policies_app.factdefinition",
        view=POLICY_VIEWERS,
        add=EDITOR,
        change=EDITOR,
        delete=EDITOR,
        rule="The clinical fact catalogue criteria refer to: editors maintain it.",
    ),
    *_model_rows(
        "casemgmt.deadlinerule",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers keep the regulatory deadlines; a rule is never deleted (cases refer to it).",
    ),
    *_model_rows(
        "casemgmt.apitoken",
        view=MANAGER,
        change=MANAGER,
        rule="Managers see and revoke integration clients' tokens; tokens are issued by a command, never deleted.",
    ),
    *_model_rows(
        "casemgmt.webhookdelivery",
        view=MANAGER,
        rule="Managers see which clients' notifications are pending, delivered or given up, and why; "
        "nobody adds, changes or deletes one here.",
    ),
    *_model_rows("auth.user", rule=SUPERUSERS_ONLY),
    *_model_rows("auth.group", rule=SUPERUSERS_ONLY),
    *_model_rows(
        "axes.accessattempt",
        rule=SUPERUSERS_ONLY + " Deleting an attempt unlocks the account (docs/operations.md).",
    ),
    *_model_rows("axes.accesslog", rule=SUPERUSERS_ONLY + " Sign-ins and sign-outs."),
    *_model_rows("axes.accessfailurelog", rule=SUPERUSERS_ONLY + " Failed sign-ins."),
    *_model_rows(
        "django_celery_beat.periodictask",
        view=MANAGER,
        change=MANAGER,
        rule="Managers see and adjust the beat schedule (the nightly retrospective review); tasks come from migrations.",
    ),
    *_model_rows(
        "django_celery_beat.intervalschedule",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers set when scheduled tasks run.",
    ),
    *_model_rows(
        "django_celery_beat.crontabschedule",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers set when scheduled tasks run.",
    ),
    *_model_rows("django_celery_beat.solarschedule", rule=SUPERUSERS_ONLY),
    *_model_rows("django_celery_beat.clockedschedule", rule=SUPERUSERS_ONLY),
]


# --- the audit log (casemgmt/audit) ----------------------------------------------------------
# {audit_event} is a row of the fixture's log.

AUDITOR_ONLY = grant({Persona.AUDITOR})
PAGES += [
    _page("audit_events", "GET", "/audit/", AUDITOR_ONLY, "The audit log, filtered and paged: auditors only."),
    _page("audit_event", "GET", "/audit/{audit_event}/", AUDITOR_ONLY, "One audit row in full: auditors only."),
    _page(
        "audit_export",
        "GET",
        "/audit/export.csv",
        AUDITOR_ONLY,
        "The filtered audit log as CSV (the export is itself audited): auditors only.",
    ),
]


# --- retrospective review (casemgmt/retro) ---------------------------------------------------
# {retro_run} is a run, {retro_item} an open review item of the fixture data.

PAGES += [
    _page(
        "retro_queue", "GET", "/queue/retro/", REVIEWER_PAGE, "The retrospective review queue: reviewers and managers."
    ),
    _page(
        "retro_item",
        "GET",
        "/queue/retro/{retro_item}/",
        REVIEWER_PAGE,
        "A review item with the decision beside the re-evaluation: reviewers and managers.",
    ),
    _page(
        "retro_item_claim",
        "POST",
        "/queue/retro/{retro_item}/claim",
        grant(DECIDERS),
        "Nurse and physician reviewers claim items.",
    ),
    _page(
        "retro_item_resolve",
        "POST",
        "/queue/retro/{retro_item}/resolve",
        grant(DECIDERS),
        "Nurse and physician reviewers close an item when the decision stands.",
    ),
    _page(
        "retro_item_refer",
        "POST",
        "/queue/retro/{retro_item}/refer",
        grant(DECIDERS),
        "Nurse and physician reviewers refer an item for a corrected decision.",
    ),
    _page(
        "retro_item_correct",
        "POST",
        "/queue/retro/{retro_item}/correct",
        grant({Persona.PHYSICIAN}),
        "Physician reviewers record a corrected decision (a new decision superseding the old).",
        ok=(302, 400),
    ),
    _page(
        "retro_runs_panel", "GET", "/retro/runs/panel", grant(MANAGER), "The dashboard's run progress panel: managers."
    ),
    _page(
        "retro_run_progress",
        "GET",
        "/retro/runs/{retro_run}/progress",
        grant(MANAGER),
        "One run's progress bar (dashboard and admin): managers.",
    ),
]
ADMIN_PAGES += [
    _page(
        "admin:app_list",
        "GET",
        "/admin/retro/",
        admin_grant(MANAGER, staff_otherwise=Access.HIDDEN),
        "The retrospective review app's index (runs, nightly settings, items): managers.",
    ),
]
API += [
    _api("api_retro_runs", "POST", "/api/v1/retro/runs", grant(MANAGER), "Managers start a retrospective review."),
    _api(
        "api_retro_run_detail", "GET", "/api/v1/retro/runs/{retro_run}", grant(MANAGER), "A run's progress: managers."
    ),
    _api(
        "api_retro_run_cancel",
        "POST",
        "/api/v1/retro/runs/{retro_run}/cancel",
        grant(MANAGER),
        "Managers cancel a run.",
        ok=(200,),
    ),
]
ADMIN_MODELS += [
    *_model_rows(
        "retro.retrorun",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers start, follow, cancel and re-run retrospective reviews; a run is never deleted.",
    ),
    *_model_rows(
        "retro.retroschedule",
        view=MANAGER,
        change=MANAGER,
        rule="Managers set the nightly run's sample percentage; one row, never added or deleted.",
    ),
    *_model_rows(
        "retro.retroreviewitem",
        view=MANAGER,
        rule="Managers read review items here; reviewers work them on their own pages.",
    ),
]


# --- authorizations (casemgmt/api/authorizations.py) -------------------------------------------
# {authorization} is the authorization of the fixture's decided case (submitted by `client`);
# {member} and {date_of_service} its member and a date it covers.

API += [
    _api(
        "api_authorizations",
        "GET",
        "/api/v1/authorizations?member_id={member}&code=62330&date_of_service={date_of_service}",
        grant({Persona.CLIENT, Persona.OTHER_CLIENT, Persona.CLAIMS_SYSTEM}),
        "The claims question (is there a valid authorization for this member, service and date?): a claims "
        "system finds any, an integration client only its own (another client's finds nothing); every "
        "lookup is audited. Reviewers read authorizations on the case.",
    ),
    _api(
        "api_authorization_detail",
        "GET",
        "/api/v1/authorizations/{authorization}",
        grant({Persona.CLIENT, Persona.CLAIMS_SYSTEM, *REVIEWERS}, otherwise=Access.HIDDEN),
        "One authorization: the client of its request, the claims system and reviewers; to anyone else "
        "it does not exist.",
    ),
    _api(
        "api_authorization_extensions",
        "POST",
        "/api/v1/authorizations/{authorization}/extensions",
        grant(
            {Persona.CLIENT, *REVIEWERS},
            otherwise=Access.HIDDEN,
            claims_system=Access.FORBIDDEN,
        ),
        "More units or a later end: the client of its request, or a reviewer or manager recording a request "
        "received by phone. The claims system reads only.",
    ),
]
ADMIN_MODELS += [
    *_model_rows(
        "casemgmt.authorizationvalidityrule",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers set how long authorizations last; a rule is never deleted (authorizations name it).",
    ),
    *_model_rows(
        "casemgmt.appealwindow",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers keep the appeal filing windows; never deleted (without one, a line of business takes no appeal).",
    ),
    *_model_rows(
        "casemgmt.reviewreasoncode",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers keep the review decision reason codes (X12 886) reviewers may give; a code is "
        "deactivated, never deleted (decisions name it).",
    ),
    *_model_rows(
        "casemgmt.duplicaterule",
        view=MANAGER,
        change=MANAGER,
        rule="Managers set the window and the action (flag or refuse) for duplicate requests; one rule per "
        "line of business, never added or deleted.",
    ),
    *_model_rows(
        "casemgmt.intakesettings",
        view=MANAGER,
        change=MANAGER,
        rule="Managers turn automatic approval at intake on or off for the plan; one row, never added or deleted.",
    ),
    *_model_rows(
        "casemgmt.goldcardprogramme",
        view=MANAGER,
        add=MANAGER,
        change=MANAGER,
        rule="Managers define gold-card programmes; a programme is deactivated, never deleted (exemptions name it).",
    ),
    *_model_rows(
        "casemgmt.goldcardexemption",
        view=MANAGER,
        rule="Managers read gold-card exemptions here; evaluation earns and ends them, managers grant and revoke "
        "them on /gold-cards/.",
    ),
    *_model_rows(
        "casemgmt.authorization",
        view=MANAGER,
        rule="Managers read authorizations (each page recorded); decisions issue, supersede and void them, "
        "nobody adds, changes or deletes one here.",
    ),
]


# --- eligibility (casemgmt/api/eligibility.py) ---------------------------------------------------

API += [
    _api(
        "api_eligibility",
        "POST",
        "/api/v1/eligibility",
        grant({Persona.MANAGER}),
        "Member coverage from the enrollment system: loaded with a manager's token (the plan gives its "
        "enrollment system an account in the manager role), as managers also load it with "
        "`manage.py load_eligibility`. Not integration clients (a provider's EHR must not say who is "
        "covered) nor the claims system (it reads only).",
        ok=(200,),
    ),
]


# --- SMART Backend Services for the FHIR door (casemgmt/fhir/smart_views.py) ----------------------
# The FHIR door takes only its own access tokens: a v1 token (every signed-in persona here) is
# no credential there. These two are open to anyone, v1 token or not.

API += [
    _api(
        "fhir:smart_configuration",
        "GET",
        "/fhir/r4/.well-known/smart-configuration",
        EVERYONE,
        "SMART discovery: the token endpoint, algorithms and scopes; public, no data.",
    ),
    _api(
        "fhir:token",
        "POST",
        "/fhir/r4/auth/token",
        EVERYONE,
        "The SMART token endpoint: anyone may ask, only a registered client's signed assertion gets a token "
        "(the matrix sends none: 400 shows the request was let in).",
        ok=(400,),
    ),
]
ADMIN_PAGES += [
    _page(
        "admin:app_list",
        "GET",
        "/admin/fhir/",
        admin_grant(MANAGER, staff_otherwise=Access.HIDDEN),
        "The FHIR app's index (backend clients): managers.",
    ),
]
ADMIN_MODELS += [
    *_model_rows(
        "fhir.fhirclient",
        view=MANAGER,
        change=MANAGER,
        rule="Managers see and deactivate SMART backend clients; a client is registered by a command, never deleted.",
    ),
]


# --- the PAS operations (casemgmt/fhir/views.py) ---------------------------------------------------
# Reached with a SMART backend access token only; a v1 token or a session is no credential there,
# so every persona of this matrix gets 401 (tests/casemgmt/fhir/ exercise the token's own rules).
SMART_TOKEN_ONLY = grant((), otherwise=Access.SIGN_IN)

API += [
    _api(
        "fhir:metadata",
        "GET",
        "/fhir/r4/metadata",
        EVERYONE,
        "The CapabilityStatement: what the FHIR door supports and how to get a token; public, no data.",
    ),
    _api(
        "fhir:claim_submit",
        "POST",
        "/fhir/r4/Claim/$submit",
        SMART_TOKEN_ONLY,
        "PAS requests from a SMART backend client (an EHR); it sees only the requests it sent.",
    ),
    _api(
        "fhir:claim_inquire",
        "POST",
        "/fhir/r4/Claim/$inquire",
        SMART_TOKEN_ONLY,
        "PAS inquiries from a SMART backend client: query by example over the requests it sent.",
    ),
]

# --- DTR (casemgmt/fhir/dtr_views.py) ----------------------------------------------------------------
API += [
    _api(
        "fhir:questionnaire_package",
        "POST",
        "/fhir/r4/Questionnaire/$questionnaire-package",
        SMART_TOKEN_ONLY,
        "DTR: the payer's Questionnaires for an order, for a SMART backend client; policy content, no member data.",
        ok=(200,),
    ),
    _api(
        "fhir:questionnaire",
        "GET",
        "/fhir/r4/Questionnaire/policy-1",
        SMART_TOKEN_ONLY,
        "DTR: a payer's Questionnaire read by id (system/Questionnaire.read); policy content, no member data.",
    ),
    _api(
        "fhir:questionnaire_search",
        "GET",
        "/fhir/r4/Questionnaire",
        SMART_TOKEN_ONLY,
        "DTR: the payer's Questionnaires found by canonical (system/Questionnaire.read); no member data.",
    ),
]


# --- PAS subscriptions (casemgmt/fhir/subscription_views.py) ----------------------------------------
# A SMART backend access token only, as for the PAS operations (tests/casemgmt/fhir/test_subscriptions.py
# exercises the scopes and that a client sees only its own subscription).
API += [
    _api(
        "fhir:subscription_create",
        "POST",
        "/fhir/r4/Subscription",
        SMART_TOKEN_ONLY,
        "A SMART backend client's PAS subscription (system/Subscription.write); one per client.",
    ),
    _api(
        "fhir:subscription",
        "GET",
        "/fhir/r4/Subscription/1",
        SMART_TOKEN_ONLY,
        "A client's own subscription (system/Subscription.read); another client's is 404.",
    ),
    _api(
        "fhir:subscription",
        "DELETE",
        "/fhir/r4/Subscription/1",
        SMART_TOKEN_ONLY,
        "A client turns its own subscription off (system/Subscription.write).",
        ok=(200,),
    ),
    _api(
        "fhir:subscription",
        "PUT",
        "/fhir/r4/Subscription/1",
        SMART_TOKEN_ONLY,
        "A client changes its own subscription, or turns it off or on (system/Subscription.write).",
        ok=(200,),
    ),
    _api(
        "fhir:subscription_status",
        "GET",
        "/fhir/r4/Subscription/1/$status",
        SMART_TOKEN_ONLY,
        "The backport's $status of a client's own subscription (system/Subscription.read).",
    ),
]


# --- CRD over CDS Hooks (casemgmt/fhir/cds_views.py) -------------------------------------------------
# A CDS service is called with a JWT the EHR signs for the service's URL; no account's session or v1
# token is one, so every persona of this matrix gets 401 (tests/casemgmt/fhir/test_cds_hooks.py
# exercises the JWT's own rules).
API += [
    _api(
        "cds_services",
        "GET",
        "/cds-services",
        EVERYONE,
        "CDS Hooks discovery: the CRD services, their prefetch and options; public, no data.",
    ),
    _api(
        "cds_service",
        "POST",
        "/cds-services/casemgmt-crd-order-sign",
        grant((), otherwise=Access.SIGN_IN),
        "A CRD call from an EHR registered as a FHIR client, with a JWT it signed for this service.",
        ok=(200,),
    ),
]


@dataclass(frozen=True)
class Matrix:
    entries: list[Entry] = field(default_factory=list)

    def by_surface(self, surface: Surface) -> list[Entry]:
        return [e for e in self.entries if e.surface == surface]


MATRIX = Matrix([*PAGES, *ADMIN_PAGES, *API, *ADMIN_MODELS])


def _check_unique(entries: list[Entry]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for entry in entries:
        ident = (
            entry.surface,
            entry.name,
            entry.method,
            entry.path if entry.surface == Surface.PAGE else entry.variant,
        )
        if ident in seen:
            raise ValueError(f"two rows for {entry.key} {entry.path}")
        seen.add(ident)


_check_unique(MATRIX.entries)

# --- the table in docs/security.md ------------------------------------------------------------

SYMBOL = {Access.ALLOW: "yes", Access.SIGN_IN: "sign in", Access.FORBIDDEN: "403", Access.HIDDEN: "404"}
COLUMNS = list(Persona)
HEADINGS = {
    Surface.PAGE: "Pages (including the admin's own pages)",
    Surface.API: "API (`Authorization: Bearer`; sign in = 401)",
    Surface.ADMIN: "Admin models",
}


def render_markdown() -> str:
    """The matrix as the Markdown tables docs/security.md carries between its markers."""
    header = "| request | " + " | ".join(p.value for p in COLUMNS) + " | rule |"
    rule = "| --- | " + " | ".join("---" for _ in COLUMNS) + " | --- |"
    out: list[str] = [
        "Personas: " + "; ".join(f"`{p.value}` {PERSONA_LABELS[p]}" for p in COLUMNS) + ".",
        "",
        "Answers: `yes` served; `sign in` redirected to the sign-in page (the API: 401); `403` refused;"
        " `404` hidden (does not exist for this persona).",
    ]
    for surface in Surface:
        out += ["", f"#### {HEADINGS[surface]}", "", header, rule]
        for entry in MATRIX.by_surface(surface):
            if surface == Surface.ADMIN:
                variant = f" ({entry.variant})" if entry.variant else ""
                request = f"`{entry.name}` {entry.method}{variant}"
            else:
                request = f"{entry.method} `{entry.path}`"
            cells = " | ".join(SYMBOL[entry.access[p]] for p in COLUMNS)
            out.append(f"| {request} | {cells} | {entry.rule} |")
    return "\n".join(out) + "\n"
