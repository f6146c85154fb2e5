"""Load the seed policies, the demo's facet denervation and lumbar fusion policies, demo users and demo
cases (one of each state a reviewer meets). Safe to run again."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from casemgmt.cases.models import (
    AppealRequester,
    Case,
    GoldCardExemption,
    GoldCardProgramme,
    GoldCardStatus,
    LineOutcome,
    Urgency,
)
from casemgmt.cases.services.appeals import appeal_open
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.gold_cards import gold_card_grant, gold_card_programme_create
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.cases.services.transitions import case_refer_to_physician
from casemgmt.cases.services.triage import intake_settings, intake_settings_update
from casemgmt.demo.facet_policy import BLOCKS_CRITERION, FACET_DENERVATION
from casemgmt.demo.fusion_policy import FUSION
from casemgmt.demo.story import cases_by_state, retro_review_ensure, story_cases_ensure
from casemgmt.kernel.roles import Role
from casemgmt.security.services import demo_user_ensure, roles_sync_permissions
from policies_app.demo.seed_policies import SEED_POLICIES
from policies_app.models import LineOfBusiness, PolicyCode, PolicyVersion, RequirementRule, RequirementRuleStatus
from policies_app.requirement_rules import RequirementRuleInput, requirement_rule_create, requirement_rule_publish
from policies_app.services import policy_seed

DEMO_USERS = [
    ("nurse", Role.NURSE, "Nora Reyes"),
    ("physician", Role.PHYSICIAN, "Dr. Paul Okafor"),
    # An appeal is decided by a physician who took no part in the decision under appeal.
    ("physician2", Role.PHYSICIAN, "Dr. Ines Alvarez"),
    ("editor", Role.POLICY_EDITOR, "Edith Lund"),
    # A version is published by an editor other than the one who submitted it for review
    # (POLICY_PUBLISH_NEEDS_SECOND_EDITOR): editor2 publishes the seed policies editor submits.
    ("editor2", Role.POLICY_EDITOR, "Eli Brandt"),
    ("manager", Role.MANAGER, "Maria Chen"),
    ("portal", Role.INTEGRATION_CLIENT, "Provider Portal"),
    ("claims", Role.CLAIMS_SYSTEM, "Claims System"),
    ("auditor", Role.AUDITOR, "Audrey Stone"),
]
API_ROLES = (Role.INTEGRATION_CLIENT, Role.CLAIMS_SYSTEM)
DEFAULT_PASSWORD = "demo-pass-2026"
DEMO_NPI = "1234567893"  # a well-formed NPI (valid check digit), not a real provider
# A second well-formed NPI: the demo's gold-card holder, so the demo cases above keep their review.
GOLD_CARD_NPI = "1234567802"
GOLD_CARD_PROGRAMME = "Facet joint denervation (commercial)"


def _demo_cases(today: date) -> list[dict[str, Any]]:
    soon = today + timedelta(days=14)
    return [
        {
            "external_id": "DEMO-1",
            "urgency": "standard",
            "line_of_business": "commercial",
            "lines": [("CPT", "62330", soon, "mild procedure, L4-L5")],
            "notes": "Lumbar spinal stenosis with neurogenic claudication; failed 12 weeks of physical therapy.",
            "diagnoses": ["M48.062"],
        },
        {
            "external_id": "DEMO-2",
            "urgency": "standard",
            "line_of_business": "medicare_advantage",
            "lines": [("CPT", "62330", soon, "percutaneous decompression"), ("CPT", "62331", soon, "additional level")],
            "notes": "Medicare Advantage member; lumbar stenosis at two levels.",
            "diagnoses": ["M48.062"],
        },
        {
            "external_id": "DEMO-3",
            "urgency": "standard",
            "line_of_business": "commercial",
            "review_type": "retrospective",
            "lines": [("CPT", "22840", date(2024, 11, 18), "posterior instrumentation")],
            "notes": "Posterior stabilization with the Dynesys system at L4-L5 without fusion.",
            "diagnoses": ["M43.16"],
        },
        {
            "external_id": "DEMO-4",
            "urgency": "expedited",
            "line_of_business": "commercial",
            "lines": [("CPT", "22840", today + timedelta(days=2), "posterior instrumentation")],
            "notes": "Planned Dynesys dynamic stabilization, L5-S1.",
            "diagnoses": ["M43.17"],
        },
        {
            "external_id": "DEMO-5",
            "urgency": "standard",
            "line_of_business": "exchange",
            "lines": [("CPT", "72148", today + timedelta(days=5), "MRI lumbar spine without contrast")],
            "notes": "Low back pain for 8 weeks with radiculopathy.",
            "diagnoses": ["M54.16"],
        },
    ]


# --- facet joint denervation: one set of cases per line of business --------------------------

# The CMS-0057-F report's unit: a Medicare Advantage contract, a state for Medicaid and CHIP,
# an exchange plan's HIOS id, a commercial group.
PLAN_IDS = {
    LineOfBusiness.COMMERCIAL: "GRP-40021",
    LineOfBusiness.EXCHANGE: "12345IA0010001",
    LineOfBusiness.MEDICARE_ADVANTAGE: "H1234",
    LineOfBusiness.MEDICAID: "IA",
    LineOfBusiness.CHIP: "IA",
    LineOfBusiness.FEP: "FEP-105",
}
LOB_TAGS = {
    LineOfBusiness.COMMERCIAL: "COM",
    LineOfBusiness.EXCHANGE: "EXC",
    LineOfBusiness.MEDICARE_ADVANTAGE: "MA",
    LineOfBusiness.MEDICAID: "MCD",
    LineOfBusiness.CHIP: "CHIP",
    LineOfBusiness.FEP: "FEP",
}
# Members by line of business: Medicare Advantage members are older; CHIP covers members up to
# 19, and the policy's adults are 18 or older.
BIRTH_YEARS = {
    LineOfBusiness.COMMERCIAL: 1971,
    LineOfBusiness.EXCHANGE: 1979,
    LineOfBusiness.MEDICARE_ADVANTAGE: 1951,
    LineOfBusiness.MEDICAID: 1984,
    LineOfBusiness.CHIP: 2008,
    LineOfBusiness.FEP: 1966,
}
MEMBER_NAMES = ("Alma Ruiz", "Ben Ostrowski", "Carla Nguyen", "Dev Patel")

CRITERIA_MET = {
    "medial_branch_blocks_80_relief": 2,
    "symptom_duration_months": 9,
    "conservative_therapy_weeks": 12,
    "facet_denervation_within_6_months": False,
}
ONE_BLOCK_ONLY = {**CRITERIA_MET, "medial_branch_blocks_80_relief": 1}
DENIAL_REASON = (
    "Only one diagnostic medial branch block is documented. The policy asks for two blocks at the "
    "level to be treated, each relieving at least 80% of the pain, before radiofrequency denervation."
)


@dataclass(frozen=True)
class FacetKind:
    """One demo case of each line of business: what it is for, and how far load_demo takes it."""

    tag: str
    purpose: str
    facts: dict[str, Any]
    days_ahead: int
    code: str
    decided: str = ""  # "denied" or "approved": load_demo records that decision
    appealed: bool = False  # and opens an appeal of it, for a second physician to decide


FACET_KINDS = (
    FacetKind("REQ", "to deny", ONE_BLOCK_ONLY, 10, "64635"),
    FacetKind("DEN", "denied, to appeal", ONE_BLOCK_ONLY, 12, "64635", decided="denied"),
    FacetKind("APL", "denied and appealed", ONE_BLOCK_ONLY, 9, "64633", decided="denied", appealed=True),
    FacetKind("APR", "approved, to reopen", CRITERIA_MET, 7, "64633", decided="approved"),
)
DESCRIPTIONS = {
    "64633": "RF denervation, cervical facet joint C5-C6, right",
    "64635": "RF denervation, lumbar facet joint L4-L5, left",
}
DIAGNOSES = {"64633": "M47.812", "64635": "M47.816"}


def facet_external_id(line_of_business: str, kind: FacetKind) -> str:
    return f"FACET-{LOB_TAGS[LineOfBusiness(line_of_business)]}-{kind.tag}"


def _facet_input(line_of_business: LineOfBusiness, index: int, kind: FacetKind, today: date) -> CaseInput:
    first, _, last = MEMBER_NAMES[index % len(MEMBER_NAMES)].partition(" ")
    region = "cervical" if kind.code == "64633" else "lumbar"
    return CaseInput(
        external_id=facet_external_id(line_of_business, kind),
        urgency=Urgency.STANDARD,
        line_of_business=line_of_business,
        plan_id=PLAN_IDS[line_of_business],
        member=MemberInput(
            member_id=f"F{LOB_TAGS[line_of_business]}{700 + index}",
            first_name=first,
            last_name=last,
            birth_date=date(BIRTH_YEARS[line_of_business], 1 + index * 3, 9),
        ),
        requesting_provider=ProviderInput(npi=DEMO_NPI, name="Demo Spine Clinic"),
        diagnosis_codes=(DIAGNOSES[kind.code],),
        service_lines=(
            LineInput(
                code_system="CPT",
                code=kind.code,
                units=1,
                date_of_service=today + timedelta(days=kind.days_ahead),
                description=DESCRIPTIONS[kind.code],
            ),
        ),
        clinical_facts=dict(kind.facts),
        clinical_notes=(
            f"Chronic axial {region} pain for {kind.facts['symptom_duration_months']} months; "
            f"{kind.facts['conservative_therapy_weeks']} weeks of physical therapy and medicines without relief. "
            f"{kind.facts['medial_branch_blocks_80_relief']} diagnostic medial branch block(s) with at least 80% relief."
        ),
    )


def _facet_case(
    *, users: dict[str, User], version: PolicyVersion, line_of_business: LineOfBusiness, index: int, today: date
) -> tuple[Case, Case | None, bool]:
    """The case of `FACET_KINDS[index]`, taken as far as its kind says; (case, its appeal, created)."""
    kind = FACET_KINDS[index]
    client = users["portal"]
    case = Case.objects.filter(submitted_by=client, external_id=facet_external_id(line_of_business, kind)).first()
    created = case is None
    # A case is written with its decision and appeal or not at all; a case a demo user has acted
    # on since (reopened, say) is left as it is.
    with transaction.atomic():
        if case is None:
            case = case_submit(client=client, data=_facet_input(line_of_business, index, kind, today))
        if created and kind.decided == "denied":
            case_refer_to_physician(
                case_id=case.pk, user=users["nurse"], summary="One diagnostic block only; please review."
            )
            cite = CitationInput(policy_version_id=version.pk, criterion=BLOCKS_CRITERION)
            line = DecisionLineInput(
                service_line=1, outcome=LineOutcome.DENIED, reason=DENIAL_REASON, citations=(cite,)
            )
            decision_record(case_id=case.pk, user=users["physician"], lines=[line], citations=[])
        elif created and kind.decided == "approved":
            # No criterion named: the citation quotes the policy statement, whose criteria are all met.
            cite = CitationInput(policy_version_id=version.pk)
            line = DecisionLineInput(service_line=1, outcome=LineOutcome.APPROVED, citations=(cite,))
            decision_record(case_id=case.pk, user=users["nurse"], lines=[line], citations=[])
        if created and kind.appealed:
            appeal_open(
                case_id=case.pk,
                user=client,
                lines=[1],
                reason=(
                    "A second medial branch block gave 85% relief for six hours; "
                    "the procedure note is on its way by fax."
                ),
                urgency=Urgency.STANDARD,
                requested_by=AppealRequester.PROVIDER,
            )
    case.refresh_from_db()
    return case, case.appeals.order_by("pk").first(), created


# In effect before every demo case (the retrospective one is from November 2024).
RULES_START = date(2024, 1, 1)


def _triage_cases(client: User, today: date) -> list[tuple[str, Case]]:
    """Two requests intake answers on its own once the rules and the switch are in place: an office
    visit (no authorization required) and a facet denervation whose criteria are all met."""
    requests = [
        (
            "an office visit, no authorization required:",
            "DEMO-OFFICE",
            LineInput(
                code_system="CPT",
                code="99213",
                units=1,
                date_of_service=today + timedelta(days=3),
                description="Office visit, established patient",
            ),
            "M54.16",
            {},
        ),
        (
            "criteria met, approved automatically:",
            "DEMO-AUTO",
            LineInput(
                code_system="CPT",
                code="64633",
                units=1,
                date_of_service=today + timedelta(days=8),
                description=DESCRIPTIONS["64633"],
            ),
            DIAGNOSES["64633"],
            CRITERIA_MET,
        ),
    ]
    out = []
    for purpose, external_id, line, diagnosis, facts in requests:
        case = Case.objects.filter(submitted_by=client, external_id=external_id).first()
        if case is None:
            case = case_submit(
                client=client,
                data=CaseInput(
                    external_id=external_id,
                    urgency=Urgency.STANDARD,
                    line_of_business=LineOfBusiness.COMMERCIAL,
                    plan_id=PLAN_IDS[LineOfBusiness.COMMERCIAL],
                    member=MemberInput(
                        member_id=f"T{external_id[5:]}",
                        first_name="Tess",
                        last_name="Intake",
                        birth_date=date(1969, 4, 2),
                    ),
                    requesting_provider=ProviderInput(npi=DEMO_NPI, name="Demo Spine Clinic"),
                    diagnosis_codes=(diagnosis,),
                    service_lines=(line,),
                    clinical_facts=dict(facts),
                    clinical_notes="Sent after the plan's rules and automatic approval were in place.",
                ),
            )
        out.append((purpose, case))
    return out


def _gold_card_ensure(manager: User, version: PolicyVersion) -> GoldCardExemption:
    """A commercial gold-card programme over the facet policy, and a card a manager granted to a
    second demo provider: a request of theirs for the service is approved at intake."""
    programme = GoldCardProgramme.objects.filter(name=GOLD_CARD_PROGRAMME).first()
    if programme is None:
        programme = gold_card_programme_create(
            user=manager,
            name=GOLD_CARD_PROGRAMME,
            line_of_business=LineOfBusiness.COMMERCIAL,
            policy_id=version.policy_id,
        )
    card = GoldCardExemption.objects.filter(
        programme=programme, provider_npi=GOLD_CARD_NPI, status=GoldCardStatus.ACTIVE
    ).first()
    return card or gold_card_grant(
        user=manager,
        programme_id=programme.pk,
        provider_npi=GOLD_CARD_NPI,
        reason="Demo: a peer review of the practice's last 40 facet requests found every one justified.",
    )


def _rule_ensure(*, editor: User, data: RequirementRuleInput) -> bool:
    """Publish a demo rule unless a published rule of the same scope is there; whether it was added."""
    if RequirementRule.objects.filter(
        status=RequirementRuleStatus.PUBLISHED,
        code_system=data.code_system,
        code_start=data.code_start,
        code_end=data.code_end,
        line_of_business=data.line_of_business,
    ).exists():
        return False
    rule = requirement_rule_create(user=editor, data=data)
    requirement_rule_publish(user=editor, rule_id=rule.pk)
    return True


def _demo_rules(editor: User, versions: list[PolicyVersion]) -> int:
    """The rules a plan starts from: office visits need nothing, the policies' codes need authorization,
    and so does anything else (the plan-wide default). A code with a rule the policy itself suggested
    is left to that suggestion, for an editor to confirm."""
    added = 0
    added += _rule_ensure(
        editor=editor,
        data=RequirementRuleInput(
            requirement="not_required",
            effective_start=RULES_START,
            code_system="CPT",
            code_start="99202",
            code_end="99215",
            note="Office and outpatient visits.",
        ),
    )
    added += _rule_ensure(
        editor=editor,
        data=RequirementRuleInput(
            requirement="required", effective_start=RULES_START, note="Anything no other rule names."
        ),
    )
    suggested = set(
        RequirementRule.objects.filter(suggested_from__isnull=False).values_list(
            "code_system", "code_start", "code_end"
        )
    )
    codes = PolicyCode.objects.filter(version__in=versions, system__in=["CPT", "HCPCS"]).select_related("version")
    for code in codes.order_by("system", "code"):
        if (code.system, code.code, code.code_end) in suggested:
            continue
        added += _rule_ensure(
            editor=editor,
            data=RequirementRuleInput(
                requirement="required",
                effective_start=RULES_START,
                code_system=code.system,
                code_start=code.code,
                code_end=code.code_end,
                policy_id=code.version.policy_id,
            ),
        )
    return added


class Command(BaseCommand):
    help = "Load the seed policies, the demo users and demo cases (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        # `make run` passes the address it serves on, so the sign-in line names the right port.
        parser.add_argument("--url", default="http://127.0.0.1:8000/", help="where the app is served")

    def handle(self, *args: Any, **options: Any) -> None:
        password = os.environ.get("DEMO_PASSWORD", DEFAULT_PASSWORD)
        roles_sync_permissions()
        users = {
            username: demo_user_ensure(username=username, role=role, password=password, full_name=name)
            for username, role, name in DEMO_USERS
        }
        for data in [*SEED_POLICIES, FACET_DENERVATION]:
            version = policy_seed(data=data, user=users["editor"], publisher=users["editor2"])
            self.stdout.write(f"policy {data['number']} version {version.version_label}: {version.status}")
        facet_version = version
        fusion_version = policy_seed(data=FUSION, user=users["editor"], publisher=users["editor2"])
        self.stdout.write(f"policy {FUSION['number']} version {fusion_version.version_label}: {fusion_version.status}")
        seeded = list(PolicyVersion.objects.filter(policy__number__in=[d["number"] for d in SEED_POLICIES]))
        rules = _demo_rules(users["editor"], [*seeded, facet_version, fusion_version])
        self.stdout.write(f"requirement rules: {rules} published, {RequirementRule.objects.count()} in total")
        client = users["portal"]
        created = 0
        for i, demo in enumerate(_demo_cases(timezone.localdate())):
            if Case.objects.filter(submitted_by=client, external_id=demo["external_id"]).exists():
                continue
            case_submit(
                client=client,
                data=CaseInput(
                    external_id=demo["external_id"],
                    urgency=demo["urgency"],
                    line_of_business=demo["line_of_business"],
                    review_type=demo.get("review_type", "prospective"),
                    member=MemberInput(
                        member_id=f"W{100200300 + i}",
                        first_name="Demo",
                        last_name=f"Member{i + 1}",
                        birth_date=date(1958 + i * 4, 3, 14),
                    ),
                    requesting_provider=ProviderInput(npi=DEMO_NPI, name="Demo Spine Clinic"),
                    diagnosis_codes=tuple(demo["diagnoses"]),
                    service_lines=tuple(
                        LineInput(code_system=s, code=c, units=1, date_of_service=d, description=desc)
                        for s, c, d, desc in demo["lines"]
                    ),
                    clinical_notes=demo["notes"],
                ),
            )
            created += 1
        today = timezone.localdate()
        table: list[tuple[LineOfBusiness, list[str]]] = []
        lookup = ""
        for line_of_business in LineOfBusiness:
            row = []
            for index, kind in enumerate(FACET_KINDS):
                case, appeal, new = _facet_case(
                    users=users, version=facet_version, line_of_business=line_of_business, index=index, today=today
                )
                created += new
                row.append(f"{kind.purpose} {case.case_number}")
                if kind.decided == "approved" and not lookup:
                    line = case.lines.get()
                    lookup = (
                        f"/api/v1/authorizations?member_id={case.member_id}&code={line.code}"
                        f"&date_of_service={line.date_of_service.isoformat()}"
                    )
                if appeal is not None and kind.appealed:
                    row.append(f"its appeal {appeal.case_number}")
            table.append((line_of_business, row))
        self.stdout.write(f"demo cases: {created} created, {Case.objects.count()} in total")
        # After the demo cases, which load_demo decides itself: from now on a request whose criteria are
        # all met under the facet policy is approved at intake.
        if not intake_settings().automatic_approval:
            intake_settings_update(user=users["manager"], automatic_approval=True)
        card = _gold_card_ensure(users["manager"], facet_version)
        answered = _triage_cases(client, today)
        self.stdout.write(
            "Answered at intake: "
            + "; ".join(
                f"{purpose} {case.case_number} ({case.get_status_display().lower()})" for purpose, case in answered
            )
        )
        self.stdout.write(
            f"Gold card: NPI {card.provider_npi} under \u201c{card.programme.name}\u201d (/gold-cards/): "
            "its facet requests for commercial members are approved at intake."
        )
        story_cases_ensure(users=users, version=fusion_version, today=today)
        retro_run = retro_review_ensure(manager=users["manager"], version=fusion_version, today=today)
        self.stdout.write("")
        self.stdout.write(f"Cases by state (policy {FUSION['number']}, lumbar fusion, unless named):")
        for state, case in cases_by_state(client=client):
            self.stdout.write(f"  {state:<66} {case.case_number}")
        self.stdout.write(
            f"  {'retrospective review (/queue/retro/)':<66} run {retro_run.pk} "
            f"{retro_run.get_status_display().lower()}, {retro_run.discrepancies} item(s) opened"
        )
        self.stdout.write("")
        self.stdout.write(
            "Automatic approval at intake: on (policy "
            f"{FACET_DENERVATION['number']} allows it). Requirement rules: /admin/policies_app/requirementrule/ "
            "(a suggested rule from policy 07.01.89's PRIOR APPROVAL waits to be confirmed); "
            "public list: /prior-authorization/requirements/"
        )
        self.stdout.write("")
        self.stdout.write(
            f"Facet joint denervation (policy {FACET_DENERVATION['number']}, CPT 64633/64635), "
            "by line of business and plan:"
        )
        for line_of_business, row in table:
            self.stdout.write(f"  {line_of_business.label} ({PLAN_IDS[line_of_business]}): {'; '.join(row)}")
        self.stdout.write(
            "  physician denied them; physician2, who took no part, decides the appeals "
            "(upheld for Medicare Advantage: forwarded to the Independent Review Entity)."
        )
        self.stdout.write("")
        self.stdout.write(f"Sign in at {options['url']} with one of these (password: {password}):")
        for username, role, name in DEMO_USERS:
            where = "API token (below)" if role in API_ROLES else "browser"
            self.stdout.write(f"  {username:<10} {role.label:<20} {name:<18} {where}")
        # Runnable as printed: without a SECRET_KEY, a command needs the same DEBUG=1 as make run.
        debug = "DEBUG=1 " if settings.DEBUG else ""
        self.stdout.write(
            f'API token for portal: {debug}.venv/bin/python manage.py create_api_token portal --label "EHR"'
        )
        self.stdout.write(
            f'API token for claims: {debug}.venv/bin/python manage.py create_api_token claims --label "Claims"'
        )
        self.stdout.write(f"  then, as the claims system: GET {lookup}")
        self.stdout.write(
            "FHIR (Da Vinci PAS, CRD, DTR): register an EHR's key for portal with manage.py fhir_client_register; "
            "docs/api.md walks through the key, the token and the first $submit"
        )
