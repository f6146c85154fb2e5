"""The demo's fourth policy: lumbar spinal fusion, with a criteria checklist a reviewer works through.

Invented for the demo in the seed policies' form (policies_app/demo/seed_policies.py); it is no
payer's text. Its criteria read facts a request sends (some from a list of allowed values) and one
criterion no fact expresses, which a reviewer answers from the documentation (a documented-review
criterion): the checklist on the case page shows each kind. It does not allow approval at intake,
so a request that meets every criterion still waits for a nurse.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from policies_app.models import CriterionNodeType, LineOfBusiness

FUSION_POLICY_NUMBER = "DHP-SPN-118"
FUSION_CODES = ("22612", "22614", "22630", "22633", "22634")

INDICATION_FACT = "lumbar_fusion_indication"
# The indications the policy accepts without further review.
ACCEPTED_INDICATIONS = ["spondylolisthesis", "instability", "pseudarthrosis", "recurrent_herniation"]
INDICATIONS = [
    {"value": "spondylolisthesis", "label": "Degenerative or isthmic spondylolisthesis"},
    {"value": "instability", "label": "Instability on flexion-extension films (4 mm or more of translation)"},
    {"value": "pseudarthrosis", "label": "Failed earlier fusion (pseudarthrosis)"},
    {"value": "recurrent_herniation", "label": "Third herniation of the same disc, with instability"},
    {"value": "disc_degeneration_only", "label": "Disc degeneration with back pain only"},
    {"value": "other", "label": "Another indication, described in the notes"},
]

# Labels the demo's decisions cite.
INDICATION_CRITERION = "A structural indication for fusion"
DOCUMENTED_CRITERION = (
    "The surgeon's notes and the imaging report document another structural indication for fusion "
    "(deformity, tumour, infection or fracture with instability) at the level to be fused"
)
ODI_CRITERION = "Oswestry Disability Index of 30 or more"
SMOKER_CRITERION = "The member does not smoke, or stopped at least 6 weeks before surgery"

FUSION: dict[str, Any] = {
    "payer": "Demo Health Plan",
    "number": FUSION_POLICY_NUMBER,
    "title": "Lumbar Spinal Fusion",
    "lines_of_business": [LineOfBusiness.COMMERCIAL.value, LineOfBusiness.EXCHANGE.value],
    # Fusion is often done as planned and billed later: the plan re-checks what it approved.
    "retrospective_review": True,
    "original_effective_date": date(2016, 1, 1),
    "version_label": "2025-01",
    "effective_start": date(2025, 1, 1),
    "effective_end": None,
    "revised_date": date(2025, 1, 1),
    "review_date": date(2027, 1, 1),
    "coverage_position": "medically_necessary_with_criteria",
    "auto_approve_when_met": False,
    "statement": (
        "Lumbar spinal fusion, with or without instrumentation or an interbody device, is medically "
        "necessary for an adult with a structural problem of the lumbar spine that fusion corrects, "
        "when every criterion below is met. Fusion for disc degeneration with back pain alone is not "
        "medically necessary: the evidence does not show it does better than structured non-surgical "
        "care. Fusion of a level without a structural indication is not medically necessary."
    ),
    "codes": [
        ("CPT", "22612", "Arthrodesis, posterior or posterolateral technique, single interspace, lumbar"),
        ("CPT", "22614", "Same, each additional interspace"),
        ("CPT", "22630", "Arthrodesis, posterior interbody technique, single interspace, lumbar"),
        (
            "CPT",
            "22633",
            "Arthrodesis, combined posterior or posterolateral and posterior interbody technique, single "
            "interspace, lumbar",
        ),
        ("CPT", "22634", "Same, each additional interspace"),
    ],
    "terms": [
        ("lumbar spinal fusion", "procedure"),
        ("lumbar interbody fusion", "procedure"),
        ("posterolateral fusion", "procedure"),
        ("transforaminal lumbar interbody fusion", "procedure"),
    ],
    # (key, label, value type, unit, allowed values): the catalogue gains what it lacks.
    "facts": [
        (INDICATION_FACT, "Indication for lumbar fusion", "text", "", INDICATIONS),
        (
            "smoking_status",
            "Tobacco use",
            "text",
            "",
            [
                {"value": "never", "label": "Never smoked"},
                {"value": "quit_6_weeks", "label": "Stopped at least 6 weeks ago"},
                {"value": "quit_recently", "label": "Stopped less than 6 weeks ago"},
                {"value": "current", "label": "Smokes now"},
            ],
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
                {
                    "label": INDICATION_CRITERION,
                    "node_type": CriterionNodeType.ANY_OF.value,
                    "children": [
                        {
                            "label": (
                                "Spondylolisthesis, instability on flexion-extension films, a failed earlier "
                                "fusion, or a third herniation of the same disc"
                            ),
                            "fact": INDICATION_FACT,
                            "operator": "in",
                            "value": ACCEPTED_INDICATIONS,
                        },
                        {"label": DOCUMENTED_CRITERION, "node_type": CriterionNodeType.DOCUMENTED.value},
                    ],
                },
                {
                    "label": "At least 12 weeks of failed conservative therapy (physical therapy, medicines, injections)",
                    "fact": "conservative_therapy_weeks",
                    "operator": "gte",
                    "value": 12,
                },
                {"label": ODI_CRITERION, "fact": "oswestry_disability_index", "operator": "gte", "value": 30},
                {
                    "label": SMOKER_CRITERION,
                    "fact": "smoking_status",
                    "operator": "in",
                    "value": ["never", "quit_6_weeks"],
                },
            ],
        }
    ],
    "history": [
        {"date": "2025-01", "action": "Annual Review", "detail": "Policy Revised; tobacco criterion added"},
        {"date": "2024-01", "action": "Annual Review", "detail": "Policy Renewed"},
        {"date": "2016-01", "action": "Created", "detail": "Original effective date"},
    ],
}
