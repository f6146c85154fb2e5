"""Load the two seed policies, demo users and a handful of demo cases. Safe to run again."""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from casemgmt.cases.models import Case
from casemgmt.cases.services.intake import CaseInput, LineInput, MemberInput, ProviderInput, case_submit
from casemgmt.kernel.roles import Role
from casemgmt.security.services import demo_user_ensure, roles_sync_permissions
from policies_app.demo.seed_policies import SEED_POLICIES
from policies_app.services import policy_seed

DEMO_USERS = [
    ("nurse", Role.NURSE, "Nora Reyes"),
    ("physician", Role.PHYSICIAN, "Dr. Paul Okafor"),
    ("editor", Role.POLICY_EDITOR, "Edith Lund"),
    ("manager", Role.MANAGER, "Maria Chen"),
    ("portal", Role.INTEGRATION_CLIENT, "Provider Portal"),
    ("auditor", Role.AUDITOR, "Audrey Stone"),
]
DEFAULT_PASSWORD = "demo-pass-2026"
DEMO_NPI = "1234567893"  # a well-formed NPI (valid check digit), not a real provider


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
        for data in SEED_POLICIES:
            version = policy_seed(data=data, user=users["editor"])
            self.stdout.write(f"policy {data['number']} version {version.version_label}: {version.status}")
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
        self.stdout.write(f"demo cases: {created} created, {Case.objects.count()} in total")
        self.stdout.write("")
        self.stdout.write(f"Sign in at {options['url']} with one of these (password: {password}):")
        for username, role, name in DEMO_USERS:
            where = "API token (below)" if role == Role.INTEGRATION_CLIENT else "browser"
            self.stdout.write(f"  {username:<10} {role.label:<20} {name:<18} {where}")
        # Runnable as printed: without a SECRET_KEY, a command needs the same DEBUG=1 as make run.
        debug = "DEBUG=1 " if settings.DEBUG else ""
        self.stdout.write(
            f'API token for portal: {debug}.venv/bin/python manage.py create_api_token portal --label "EHR"'
        )
