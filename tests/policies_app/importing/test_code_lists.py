"""Code tables as payers print them: rows whose descriptions read like headings are still rows."""

from __future__ import annotations

from policies_app.importing import extract_document


def codes(text: str) -> list[str]:
    found = extract_document(text.encode(), file="policy.txt").many("codes")
    return [
        f"{c.value['system']}:{c.value['code']}" + (f"-{c.value['code_end']}" if c.value["code_end"] else "")
        for c in found
    ]


TABLE = """POLICY
Genetic testing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older

CODES
ICD-10-CM
  C18.0 - C18.9 Malignant neoplasm of colon
"""


def test_single_codes_listed_after_ranges_whose_descriptions_name_a_history_are_read():
    text = (
        TABLE
        + "  Z80.0 Family history of malignant neoplasm of digestive organs\n  Z86.010 Personal history of colonic polyps\n"
    )
    assert codes(text) == ["ICD10CM:C18.0-C18.9", "ICD10CM:Z80.0", "ICD10CM:Z86.010"]


def test_a_history_heading_after_the_code_table_is_not_read_as_a_code():
    text = TABLE + "\nPolicy History\n04/02/2026\tAge criterion lowered.\n"
    assert codes(text) == ["ICD10CM:C18.0-C18.9"]


MARKDOWN = """# Knee Bracing
Knee bracing is considered medically necessary when ALL of the following are met:
1. Age 18 years or older

## HCPCS codes
| Code(s) | Description |
|---|---|
"""


def test_a_markdown_table_row_with_a_range_is_read_as_a_range():
    assert codes(MARKDOWN + "| L1830 - L1836 | KO, immobilizer, prefabricated |\n") == ["HCPCS:L1830-L1836"]


def test_a_markdown_table_row_with_two_codes_gives_both():
    assert codes(MARKDOWN + "| K0901, K0902 | KO, double upright, off-the-shelf |\n") == ["HCPCS:K0901", "HCPCS:K0902"]


def test_a_markdown_table_row_gives_its_description_without_the_pipes():
    found = extract_document((MARKDOWN + "| L1810 | KO, elastic with joints |\n").encode(), file="p.txt").many("codes")
    assert [c.value["description"] for c in found] == ["KO, elastic with joints"]


def test_a_modifiers_table_gives_no_codes():
    assert codes(
        MARKDOWN
        + "| L1810 | KO, elastic |\n\n## Modifiers\n| Modifier | Use |\n|---|---|\n| RT / LT | Side |\n| KX | Criteria met |\n"
    ) == ["HCPCS:L1810"]


def test_cpt_pla_codes_in_a_table_with_a_test_name_column_are_cpt_codes():
    text = TABLE.replace("ICD-10-CM\n  C18.0 - C18.9 Malignant neoplasm of colon\n", "") + (
        "Code\tTest (laboratory)\tDescription\n0037U\tGenomeScan Tissue (Acme Labs)\tTargeted genomic sequence analysis\n"
    )
    assert codes(text) == ["CPT:0037U"]


def test_a_code_table_split_by_a_page_footer_keeps_its_rows():
    text = TABLE + (
        "  C25.0 - C25.9 Malignant neoplasm of pancreas\nProprietary and confidential\n"
        "Orchard Valley Clinical Policy GEN-12 - Page 1 of 2\n  C61 Malignant neoplasm of prostate\n"
    )
    assert codes(text) == ["ICD10CM:C18.0-C18.9", "ICD10CM:C25.0-C25.9", "ICD10CM:C61"]


def test_a_billing_reference_heading_opens_a_code_table():
    text = (
        "Criteria\nKnee bracing is considered medically necessary when ALL of the following are met:\n"
        "1. Age 18 years or older\n\n"
        "-----------------------------\nCODING REFERENCE (outpatient)\n-----------------------------\n"
        "  HCPCS  L1832         KO, adjustable knee joints, prefabricated\n"
        "  HCPCS  L1843 - L1845 KO, single upright, custom fitted\n"
    )
    assert codes(text) == ["HCPCS:L1832", "HCPCS:L1843-L1845"]


def test_an_icd10_range_whose_ends_differ_in_length_is_kept_as_a_range():
    text = TABLE.replace("C18.0 - C18.9 Malignant neoplasm of colon", "J45.20 - J45.998 Asthma")
    assert codes(text) == ["ICD10CM:J45.20-J45.998"]


def test_a_number_labelled_as_a_change_request_is_not_a_code():
    text = TABLE + "CPT: 27447\nChange Request (CR) 11290 and Transmittal 215 implemented the NCD.\n"
    assert codes(text) == ["ICD10CM:C18.0-C18.9", "CPT:27447"]


CAPTIONED = """<html><body><h2>Policy</h2>
<p>Knee bracing is considered medically necessary when ALL of the following are met:</p>
<ol><li>Age 18 years or older</li><li>Instability on examination</li></ol>
<h2>Codes</h2>
<p>Covered when the criteria are met</p>
<table><tr><th>Type</th><th>Code</th><th>Description</th></tr>
<tr><td>HCPCS</td><td>L1843</td><td>Knee orthosis, single upright</td></tr></table>
<h3>Not covered</h3>
<table><tr><th>Type</th><th>Code</th><th>Description</th></tr>
<tr><td>HCPCS</td><td>L1820</td><td>Knee orthosis, elastic with condylar pads</td></tr></table>
<h2>Change log</h2><p>2025-01-01 New policy.</p>
</body></html>"""


def test_a_code_table_under_its_own_caption_after_the_codes_section_is_read():
    found = extract_document(CAPTIONED.encode(), file="policy.html").many("codes")
    assert [f"{c.value['system']}:{c.value['code']}" for c in found] == ["HCPCS:L1843", "HCPCS:L1820"]
