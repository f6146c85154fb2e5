"""The two seed policies as structured data, summarized in our own words.

Sources: Wellmark medical policy 07.01.89 (revised July 2023) and the Blue Cross and Blue
Shield of Minnesota policy on dynamic spine stabilization (the version replaced on
2025-01-27). The payers' documents are not shipped; only the facts a UM system needs.
"""

from __future__ import annotations

from datetime import date
from typing import Any

NOT_MEDICARE_MEDICAID = ["commercial", "exchange"]

WELLMARK_07_01_89: dict[str, Any] = {
    "payer": "Wellmark Blue Cross and Blue Shield",
    "number": "07.01.89",
    "title": "Image-Guided Minimally Invasive Decompression for Spinal Stenosis",
    "lines_of_business": NOT_MEDICARE_MEDICAID,
    "retrospective_review": False,
    "original_effective_date": date(2010, 1, 1),
    "version_label": "2023-07",
    "effective_start": date(2023, 7, 1),
    "effective_end": None,
    "revised_date": date(2023, 7, 1),
    "review_date": date(2025, 7, 1),
    "coverage_position": "investigational",
    # The document's PRIOR APPROVAL section; load_demo shows it as a suggested requirement rule.
    "prior_approval": "Not applicable.",
    "statement": (
        "Image-guided minimally invasive decompression of the spine (the percutaneous 'mild' "
        "procedure), whether lumbar, cervical or thoracic, is investigational: the evidence is "
        "not enough to show that it improves the net health outcome."
    ),
    "codes": [
        ("CPT", "0274T", "Percutaneous laminotomy/laminectomy under indirect image guidance, cervical or thoracic"),
        (
            "CPT",
            "62330",
            "Percutaneous decompression with partial removal of ligamentum flavum, one interspace, lumbar",
        ),
        ("CPT", "62331", "Same, each additional lumbar interspace"),
        ("HCPCS", "G0276", "Percutaneous image-guided lumbar decompression (PILD) or placebo control in a CED trial"),
    ],
    "terms": [
        ("mild procedure", "procedure"),
        ("mild device", "device"),
        ("image-guided minimally invasive lumbar decompression", "procedure"),
        ("minimally invasive lumbar decompression", "procedure"),
        ("percutaneous image-guided lumbar decompression", "procedure"),
    ],
    "history": [
        {"date": "2025-07", "action": "Annual Review", "detail": "Policy Renewed"},
        {"date": "2024-07", "action": "Annual Review", "detail": "Policy Renewed"},
        {"date": "2023-07", "action": "Annual Review", "detail": "Policy Revised; content moved from a retired policy"},
        {"date": "2022-01", "action": "Interim Review", "detail": "Policy Revised"},
        {"date": "2010-01", "action": "Created", "detail": "Original effective date"},
    ],
}

BCBSMN_DYNAMIC_SPINE_STABILIZATION: dict[str, Any] = {
    "payer": "Blue Cross and Blue Shield of Minnesota",
    # The extracted text carries neither number nor title; this local identifier stands in
    # until an editor enters the payer's own number.
    "number": "BCBSMN-DSS",
    "title": "Dynamic Spine Stabilization",
    "lines_of_business": NOT_MEDICARE_MEDICAID,
    "retrospective_review": True,
    "original_effective_date": None,
    "version_label": "replaced-2025-01-27",
    "effective_start": None,
    "effective_end": date(2025, 1, 26),
    "revised_date": None,
    "review_date": None,
    "coverage_position": "experimental_investigational",
    "statement": (
        "Dynamic spine stabilization systems, used with or without spinal fusion, are "
        "experimental/investigational: clinical evidence does not show better health outcomes."
    ),
    "codes": [],
    "terms": [
        (name, "device")
        for name in [
            "Dynesys",
            "BioFlex",
            "CD HorizoN AGILE",
            "DSS Dynamic Soft Stabilization",
            "Dynabolt",
            "Isobar",
            "Satellite Spinal System",
            "NFix II",
            "Stabilimax NZ",
            "Zodiak DynaMo",
            "dynamic stabilization",
            "dynamic spine stabilization",
        ]
    ],
    "history": [{"date": "2025-01-27", "action": "Replaced", "detail": "This version was replaced on 2025-01-27"}],
}

SEED_POLICIES = [WELLMARK_07_01_89, BCBSMN_DYNAMIC_SPINE_STABILIZATION]
