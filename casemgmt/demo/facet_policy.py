"""The demo's third policy: radiofrequency denervation of the facet joint nerves.

Invented for the demo in the seed policies' form (policies_app/demo/seed_policies.py); it is no
payer's text. Unlike the two seeds it applies to every line of business, Medicare Advantage and
Medicaid included, and states criteria, so a denial, its appeal, the Independent Review Entity
forward and a reopening can be tried for each line of business.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from policies_app.models import LineOfBusiness

FACET_POLICY_NUMBER = "DHP-SPN-112"
FACET_CODES = ("64633", "64635")

# Label of the criterion the demo's denials cite: the one a single diagnostic block fails.
BLOCKS_CRITERION = (
    "At least two diagnostic medial branch blocks at the level to be treated, each relieving at least 80% of the pain"
)

FACET_DENERVATION: dict[str, Any] = {
    "payer": "Demo Health Plan",
    "number": FACET_POLICY_NUMBER,
    "title": "Radiofrequency Denervation of the Facet Joint Nerves",
    "lines_of_business": list(LineOfBusiness.values),
    "retrospective_review": True,
    "original_effective_date": date(2019, 4, 1),
    "version_label": "2024-04",
    "effective_start": date(2024, 4, 1),
    "effective_end": None,
    "revised_date": date(2024, 4, 1),
    "review_date": date(2027, 4, 1),
    "coverage_position": "medically_necessary_with_criteria",
    # Intake approves a request on its own when every criterion is met (and the plan's switch is on).
    "auto_approve_when_met": True,
    "statement": (
        "Radiofrequency denervation of the nerves to the cervical, thoracic or lumbar facet joints "
        "is medically necessary for chronic neck or back pain that comes from those joints, when "
        "every criterion below is met. Pain relief from diagnostic blocks is the only reliable sign "
        "that the facet joints cause the pain; without it the procedure is not medically necessary. "
        "Denervation is not repeated at a level sooner than six months after the last one."
    ),
    "codes": [
        (
            "CPT",
            "64633",
            "Radiofrequency destruction of paravertebral facet joint nerve, cervical or thoracic, one joint",
        ),
        ("CPT", "64634", "Same, cervical or thoracic, each additional joint"),
        ("CPT", "64635", "Radiofrequency destruction of paravertebral facet joint nerve, lumbar or sacral, one joint"),
        ("CPT", "64636", "Same, lumbar or sacral, each additional joint"),
    ],
    "terms": [
        ("radiofrequency ablation", "procedure"),
        ("facet joint denervation", "procedure"),
        ("medial branch neurotomy", "procedure"),
        ("radiofrequency neurotomy", "procedure"),
    ],
    # Clinical facts the criteria read that the library's catalogue lacks: (key, label, type, unit).
    "facts": [
        (
            "medial_branch_blocks_80_relief",
            "Diagnostic medial branch blocks with at least 80% relief",
            "integer",
            "blocks",
        ),
        (
            "facet_denervation_within_6_months",
            "Radiofrequency denervation at the same level in the past 6 months",
            "boolean",
            "",
        ),
    ],
    "criteria": [
        {
            "label": "All of the following",
            "children": [
                {
                    "label": "The member is 18 years of age or older",
                    "fact": "member_age",
                    "operator": "gte",
                    "value": 18,
                },
                {"label": BLOCKS_CRITERION, "fact": "medial_branch_blocks_80_relief", "operator": "gte", "value": 2},
                {
                    "label": "Neck or back pain for at least 3 months",
                    "fact": "symptom_duration_months",
                    "operator": "gte",
                    "value": 3,
                },
                {
                    "label": "At least 6 weeks of failed conservative therapy (exercise, physical therapy, medicines)",
                    "fact": "conservative_therapy_weeks",
                    "operator": "gte",
                    "value": 6,
                },
                {
                    "label": "No radiofrequency denervation at the same level within the past 6 months",
                    "fact": "facet_denervation_within_6_months",
                    "operator": "is_false",
                    "value": None,
                },
            ],
        }
    ],
    "history": [
        {
            "date": "2024-04",
            "action": "Annual Review",
            "detail": "Policy Revised; repeat treatment interval set to 6 months",
        },
        {"date": "2023-04", "action": "Annual Review", "detail": "Policy Renewed"},
        {"date": "2019-04", "action": "Created", "detail": "Original effective date"},
    ],
}
