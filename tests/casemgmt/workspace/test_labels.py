"""People's words for stored values: the template filters every page uses."""

from __future__ import annotations

from types import SimpleNamespace

from django.template import Context, Template

from casemgmt.workspace.templatetags import labels


def render(source: str, **context: object) -> str:
    return Template("{% load labels %}" + source).render(Context(context))


def test_a_role_shows_its_label():
    assert render("{{ r|role_label }}", r="nurse_reviewer") == "Nurse reviewer"
    assert render("{{ r|role_label }}", r="automated") == "Automated review at intake"


def test_an_audit_rows_roles_show_as_labels():
    assert render("{{ r|roles_label }}", r="nurse_reviewer manager") == "Nurse reviewer, Manager"


def test_lines_of_business_show_their_labels_from_a_list_or_a_stored_text():
    assert render("{{ v|lines_of_business_label }}", v=["commercial", "exchange"]) == (
        "Commercial, Exchange (ACA marketplace)"
    )
    assert render("{{ v|lines_of_business_label }}", v="commercial, exchange") == (
        "Commercial, Exchange (ACA marketplace)"
    )
    assert render("{{ v|lines_of_business_label }}", v=[]) == "All lines of business"


def test_a_value_of_any_named_choice_set_shows_its_label():
    assert render('{{ v|label:"flag_kind" }}', v="criteria_incomplete") == "Criteria unknown: documentation needed"
    assert render('{{ v|label:"coverage_position" }}', v="experimental_investigational") == (
        "Experimental/investigational"
    )
    assert render('{{ v|label:"audit_object" }}', v="retro_review") == "Retrospective review"


def test_an_unknown_value_is_shown_in_words_never_as_a_code():
    assert render('{{ v|label:"case_status" }}', v="some_new_status") == "Some new status"
    assert render("{{ v|field_label }}", v="decision_of_record") == "Decision of record"


def test_a_retrospective_rule_shows_its_sentence():
    assert render("{{ v|retro_rule_label }}", v="approved_investigational") == (
        "Approved, but the service is investigational under the version in effect"
    )


def test_a_decided_case_with_one_line_approved_and_one_denied_reads_mixed():
    case = SimpleNamespace(status="decided", outcome="mixed")
    assert render("{{ c|outcome_text }}", c=case) == "Decided: Mixed: some lines approved, some denied"
    assert render("{{ c|outcome_text }}", c=SimpleNamespace(status="in_review", outcome="")) == "In review"


def test_a_diagnosis_shows_its_description_from_the_code_set():
    assert render("{{ c|diagnosis_text }}", c="M54.16") == "M54.16 Radiculopathy, lumbar region"
    assert render("{{ c|diagnosis_description }}", c="M5416") == "Radiculopathy, lumbar region"
    assert render("{{ c|diagnosis_text }}", c="Z99.999") == "Z99.999"


def test_a_procedure_code_shows_the_products_description():
    assert render('{{ c|procedure_description:"CPT" }}', c="64635").startswith("Facet joint nerve destruction")
    assert render("{{ c|procedure_description }}", c="00000") == ""


def test_an_audit_value_that_is_a_choice_value_shows_its_label():
    assert labels.value_label("physician_review") == "Physician review"
    assert labels.value_label("PA-1234") == "PA-1234"
    assert labels.value_label(3) == 3
