"""Domain validation of a request: codes and NPIs in ASCII digits, diagnoses billable in ICD-10-CM."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from casemgmt.cases.models import Case
from casemgmt.cases.validation import Problems, check_diagnoses, npi_is_valid
from casemgmt.kernel.errors import ValidationFailed
from casemgmt.security.services import api_token_create
from policies_app.codes import code_problem
from tests import factories

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


NOT_BILLABLE = "is not a billable code: use a more specific one"


@pytest.mark.parametrize("header", ["M48", "M48.06"])
def test_a_diagnosis_category_header_is_refused_at_its_field_path(header: str) -> None:
    """Issue 17 §6: only billable ICD-10-CM codes are accepted; a category header (M48, M48.06) is not."""
    problems = Problems()
    check_diagnoses(problems, "diagnosis_codes", ["M48.062", header])
    assert problems.errors == {"diagnosis_codes[1]": [f"{header!r} {NOT_BILLABLE}"]}


def test_billable_diagnoses_pass_and_are_normalized() -> None:
    """Issue 17 §6: billable codes (M48.062, S32.001A with its 7th character) pass, as the service reads them."""
    problems = Problems()
    assert check_diagnoses(problems, "diagnosis_codes", ["m48062", "S32.001A"]) == ["M48.062", "S32.001A"]
    assert not problems


@pytest.mark.django_db
def test_intake_refuses_a_category_header_and_stores_nothing(integration_client: User) -> None:
    """Issue 17 §6: a request naming a category header (M48.06) is refused with the field path, nothing stored."""
    with pytest.raises(ValidationFailed) as refused:
        factories.case(integration_client, diagnosis_codes=("M48.06",))
    assert refused.value.status_code == 400
    assert refused.value.errors == {"diagnosis_codes[0]": [f"'M48.06' {NOT_BILLABLE}"]}
    assert Case.objects.count() == 0


@pytest.mark.django_db
def test_the_api_answers_400_naming_the_diagnosis_that_is_not_billable(integration_client: User) -> None:
    """Issue 17 §6: the API's schema pattern takes M48 (a code's form); the service answers 400 at diagnosis_codes[0]."""
    _, token = api_token_create(user=integration_client)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    response = api.post("/api/v1/cases", factories.api_case_body(diagnosis_codes=["M48"]), format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"diagnosis_codes[0]": [f"'M48' {NOT_BILLABLE}"]}
