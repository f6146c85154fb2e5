"""Codes and NPIs are ASCII digits: other scripts' digits are refused, as the API schema says."""

from __future__ import annotations

from casemgmt.cases.validation import npi_is_valid
from policies_app.codes import code_problem

ARABIC_INDIC_62330 = "\u0666\u0662\u0663\u0663\u0660"


def test_an_npi_in_ascii_digits_with_its_check_digit_is_valid():
    assert npi_is_valid("1234567893")


def test_an_npi_in_other_digits_is_refused():
    assert not npi_is_valid("".join(chr(0x0660 + int(d)) for d in "1234567893"))


def test_a_cpt_code_in_other_digits_is_refused():
    assert code_problem("CPT", "62330") is None
    assert code_problem("CPT", ARABIC_INDIC_62330) is not None


def test_a_hcpcs_code_in_other_digits_is_refused():
    assert code_problem("HCPCS", "G0276") is None
    assert code_problem("HCPCS", "G\u0660\u0662\u0667\u0666") is not None
