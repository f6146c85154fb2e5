"""The case page as one screen: the request and its documentation, and per line its flags,
criteria checklist, fact controls and decision controls (through the Django test client)."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from casemgmt.cases.models import Case, CaseEvent, CaseEventKind, CaseStatus, Decision, LineOutcome
from casemgmt.cases.services.attachments import attachment_add
from casemgmt.cases.services.decisions import CitationInput, DecisionLineInput, decision_record
from casemgmt.cases.services.intake import LineInput, ProviderInput
from casemgmt.cases.services.transitions import case_refer_to_physician
from policies_app.models import Criterion, FactDefinition, PolicyVersion
from tests import factories
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


class _Text(HTMLParser):
    """The text a person reads on a page: no tags, attributes, scripts or styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def text_of(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def page(user, case) -> str:
    return signed_in(user).get(f"/cases/{case.case_number}/").content.decode()


def section(html: str, element_id: str) -> str:
    """The element with `element_id` (up to the next element with a line-level id), for scoped asserts."""
    start = html.index(f'id="{element_id}"')
    return html[start : start + 12000]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def library(editor) -> dict[str, PolicyVersion]:
    """CPT 62330 investigational (TP.01); CPT 62331 approvable when two criteria are met (TP.02)."""
    investigational = factories.publish(factories.draft_version(), editor)
    version = factories.draft_version(
        factories.policy(number="TP.02", title="Second procedure"),
        codes=[("CPT", "62331", "")],
        coverage_position="medically_necessary_with_criteria",
    )
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, root, "At least 12 weeks of conservative therapy", "conservative_therapy_weeks", "gte", 12)
    factories.leaf(version, root, "Imaging confirms stenosis", "imaging_confirms_stenosis", "is_true", None)
    return {"investigational": investigational, "criteria": factories.publish(version, editor)}


def two_line_case(client, **overrides) -> Case:
    dos = timezone.localdate() + timedelta(days=10)
    values = {
        "service_lines": (
            LineInput(code_system="CPT", code="62330", units=1, date_of_service=dos, description="Spine decompression"),
            LineInput(code_system="CPT", code="62331", units=2, date_of_service=dos, description="Epidural injection"),
        ),
        "clinical_facts": {"conservative_therapy_weeks": 8},
        "clinical_notes": "Lumbar stenosis; eight weeks of physical therapy.",
        **overrides,
    }
    return factories.case(client, **values)


def fact_post(user, case, sequence: int, key: str, value: str, *, row_version=None, htmx: bool = True):
    fields = {"key": key, "value": value, "source": "Therapy note, page 2"}
    fields["row_version"] = case.row_version if row_version is None else row_version
    headers = {"HX-Request": "true"} if htmx else {}
    return signed_in(user).post(f"/cases/{case.case_number}/lines/{sequence}/fact", fields, headers=headers)


# --- the request side -------------------------------------------------------------------------


def test_request_panel_shows_member_providers_lines_dates_urgency_and_review_type(integration_client, nurse, library):
    case = two_line_case(
        integration_client,
        urgency="expedited",
        servicing_provider=ProviderInput(npi=factories.VALID_NPI, name="Valley Surgery Center"),
    )
    request = text_of(section(page(nurse, case), "request"))
    assert "Ada Case (M123), born 1960-05-01" in request
    assert "Spine Clinic (NPI" in request
    assert "Valley Surgery Center" in request
    assert "Prospective (pre-service), expedited" in request
    assert "CPT 62330 Spine decompression" in request
    assert "CPT 62331 Epidural injection" in request
    assert (timezone.localdate() + timedelta(days=10)).isoformat() in request
    assert "Lumbar stenosis; eight weeks of physical therapy." in request
    assert "M48.062 Spinal stenosis, lumbar region with neurogenic claudication" in request


def test_a_line_sent_without_a_description_shows_the_codes_own(integration_client, nurse, library):
    html = page(nurse, factories.case(integration_client))
    assert "Percutaneous lumbar decompression, one interspace" in text_of(section(html, "line-1"))


def test_clinical_facts_show_their_labels_and_units_never_their_keys(integration_client, nurse, library):
    request = section(page(nurse, two_line_case(integration_client)), "request")
    assert "Weeks of failed conservative therapy" in request
    assert "8 weeks" in request
    assert "conservative_therapy_weeks" not in text_of(request)


def test_attachments_are_viewed_in_place(integration_client, nurse, library):
    case = two_line_case(integration_client)
    pdf = attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("mri.pdf", PDF))
    png = attachment_add(case_id=case.pk, user=integration_client, upload=SimpleUploadedFile("xray.png", PNG))
    attachments = section(page(nurse, case), "attachments")
    assert f'<iframe src="/cases/{case.case_number}/attachments/{pdf.pk}/view"' in attachments
    assert f'<img src="/cases/{case.case_number}/attachments/{png.pk}/view"' in attachments


def test_timeline_is_collapsed_and_lists_every_event(integration_client, nurse, library):
    case = two_line_case(integration_client)
    html = page(nurse, case)
    assert re.search(r'<details class="card timeline-box" id="timeline">', html)
    timeline = section(html, "timeline")
    assert timeline.count('<li class="event ') == CaseEvent.objects.filter(case=case).count()


def test_referral_note_is_shown_to_the_physician(integration_client, nurse, physician, library):
    case = two_line_case(integration_client)
    case_refer_to_physician(case_id=case.pk, user=nurse, summary="Investigational flag on line 1; please decide.")
    note = section(page(physician, case), "referral-note")
    assert "Referral note for the physician" in note
    assert "Investigational flag on line 1; please decide." in note


# --- the lines side ---------------------------------------------------------------------------


def test_each_line_shows_its_flags_by_label_with_the_governing_version(integration_client, nurse, library):
    html = page(nurse, two_line_case(integration_client))
    line_1 = section(html, "line-1")
    assert "Investigational / experimental" in line_1
    assert "Policy TP.01" in line_1
    line_2 = section(html, "line-2")
    assert "Criteria" in line_2
    assert "policy TP.02" in line_2
    assert "version 2024-01" in line_2
    for raw in ("criteria_not_met", "criteria_incomplete", "investigational_", "medically_necessary_with_criteria"):
        assert raw not in text_of(html)


def test_a_flag_asking_for_documentation_names_the_facts_by_their_labels(integration_client, nurse, library):
    case = two_line_case(integration_client, clinical_facts={})
    text = text_of(section(page(nurse, case), "evidence-2"))
    assert "documentation needed for Weeks of failed conservative therapy, Imaging confirms spinal stenosis" in text
    assert "imaging_confirms_stenosis" not in text


def test_checklist_shows_each_criterion_met_not_met_or_unknown_with_the_fact_and_value_read(
    integration_client, nurse, library
):
    evidence = section(page(nurse, two_line_case(integration_client)), "evidence-2")
    weeks = re.search(r'<tr class="not_met">(.*?)</tr>', evidence, re.S)
    assert weeks, evidence
    weeks_text = text_of(weeks.group(1))
    assert "At least 12 weeks of conservative therapy" in weeks_text
    assert "Weeks of failed conservative therapy" in weeks_text
    assert "8 weeks" in weeks_text
    assert "Not met" in weeks_text
    imaging = re.search(r'<tr class="unknown">(.*?)</tr>', evidence, re.S)
    assert imaging
    assert "Imaging confirms spinal stenosis" in text_of(imaging.group(1))
    assert "not provided" in text_of(imaging.group(1))
    assert "Unknown" in text_of(imaging.group(1))


def test_an_unknown_criterion_offers_a_typed_fact_control_with_a_label(integration_client, nurse, library):
    case = two_line_case(integration_client)
    evidence = section(page(nurse, case), "evidence-2")
    form = re.search(r'<form [^>]*class="fact-record".*?</form>', evidence, re.S)
    assert form
    assert f'hx-post="/cases/{case.case_number}/lines/2/fact"' in form.group(0)
    assert 'name="key" value="imaging_confirms_stenosis"' in evidence
    # A yes/no fact is a choice of yes or no, labelled with the fact's label.
    control = re.search(
        r'<label for="(fact-2-[\d-]+)">Imaging confirms spinal stenosis</label>\s*<select name="value" id="\1"',
        evidence,
    )
    assert control
    assert ">Yes</option>" in evidence


def test_recording_a_fact_in_place_evaluates_the_line_again_and_audits_it(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = fact_post(nurse, case, 2, "conservative_therapy_weeks", "14")
    assert response.status_code == 200
    fragment = response.content.decode()
    assert "<html" not in fragment
    assert fragment.lstrip().startswith('<div class="line-evidence" id="evidence-2">')
    assert "Recorded." in fragment
    row = re.search(r'<tr class="met">(.*?)</tr>', fragment, re.S)
    assert row
    assert "14 weeks" in text_of(row.group(1))
    case.refresh_from_db()
    assert case.clinical_facts["conservative_therapy_weeks"] == 14
    event = CaseEvent.objects.get(case=case, kind=CaseEventKind.FACT_RECORDED)
    assert event.actor == nurse
    assert event.detail["source"] == "Therapy note, page 2"
    # The page's forms follow the case to its new version.
    assert f'id="case-row-version" data-row-version="{case.row_version}" hx-swap-oob="true"' in fragment


def test_a_fact_that_is_not_of_its_type_is_refused_in_place_and_nothing_changes(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = fact_post(nurse, case, 2, "conservative_therapy_weeks", "many")
    assert response.status_code == 400
    fragment = response.content.decode()
    assert 'role="alert"' in fragment
    assert "Not recorded: Weeks of failed conservative therapy: must be a number" in fragment
    case.refresh_from_db()
    assert case.clinical_facts["conservative_therapy_weeks"] == 8
    assert not CaseEvent.objects.filter(case=case, kind=CaseEventKind.FACT_RECORDED).exists()


def test_a_fact_from_a_stale_page_is_refused_with_409(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = fact_post(nurse, case, 2, "conservative_therapy_weeks", "14", row_version=case.row_version - 1)
    assert response.status_code == 409
    assert "The case changed since you opened it" in response.content.decode()
    case.refresh_from_db()
    assert case.clinical_facts["conservative_therapy_weeks"] == 8


def test_without_htmx_a_fact_is_recorded_and_the_page_shown_again(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = fact_post(nurse, case, 2, "imaging_confirms_stenosis", "true", htmx=False)
    assert response.status_code == 302
    assert response["Location"] == f"/cases/{case.case_number}/#line-2"
    case.refresh_from_db()
    assert case.clinical_facts["imaging_confirms_stenosis"] is True


def test_a_fact_for_a_line_the_case_does_not_have_is_404(integration_client, nurse, library):
    case = two_line_case(integration_client)
    assert fact_post(nurse, case, 9, "conservative_therapy_weeks", "14").status_code == 404


def test_the_fact_control_refuses_get(integration_client, nurse, library):
    case = two_line_case(integration_client)
    assert signed_in(nurse).get(f"/cases/{case.case_number}/lines/2/fact").status_code == 405


def test_no_fact_control_on_a_decided_case(integration_client, nurse, library):
    case = two_line_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="approved"),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[],
    )
    assert 'class="fact-record"' not in page(nurse, case)


# --- the decision controls ----------------------------------------------------------------------


def outcomes_offered(html: str, sequence: int) -> list[str]:
    select = re.search(rf'<select name="outcome_{sequence}".*?</select>', html, re.S)
    assert select, html
    return re.findall(r'<option value="([a-z_]*)"', select.group(0))


def test_each_line_has_its_own_decision_controls_in_the_decision_form(integration_client, nurse, library):
    html = page(nurse, two_line_case(integration_client))
    for sequence in (1, 2):
        line = section(html, f"line-{sequence}")
        assert f"<legend>Decision on line {sequence}: CPT 6233{sequence - 1}</legend>" in line
        assert f'name="outcome_{sequence}"' in line
        assert re.search(
            rf'name="reason_{sequence}"[^>]*form="decision-form"|form="decision-form"[^>]*name="reason_{sequence}"',
            line,
        )
    assert '<form method="post" action="/cases/' in section(html, "decide")


def test_a_nurse_is_offered_referral_per_line_but_no_denial(integration_client, nurse, library):
    html = page(nurse, two_line_case(integration_client))
    offered = outcomes_offered(html, 1)
    assert LineOutcome.REFERRED in offered
    assert LineOutcome.APPROVED in offered
    assert LineOutcome.DENIED not in offered
    assert "Referred to a physician" in html


def test_a_physician_is_offered_denial_but_no_referral(integration_client, physician, library):
    offered = outcomes_offered(page(physician, two_line_case(integration_client)), 1)
    assert LineOutcome.DENIED in offered
    assert LineOutcome.REFERRED not in offered


def test_a_nurse_is_offered_no_referral_on_an_appeal(integration_client, nurse, physician, library):
    case = two_line_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="denied", reason="Investigational."),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[CitationInput(policy_version_id=library["investigational"].pk, criterion="Investigational.")],
    )
    signed_in(nurse).post(
        f"/cases/{case.case_number}/appeal",
        {"lines": [1], "reason": "New evidence.", "urgency": "standard", "requested_by": "member"},
    )
    appeal = Case.objects.get(appeal_of=case)
    html = page(nurse, appeal)
    assert LineOutcome.REFERRED not in html.split('id="decide"')[0].split('name="outcome_1"')[1].split("</select>")[0]


def test_a_nurse_approves_one_line_and_refers_the_other_without_pending_the_case(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "referred",
            "reason_1": "Investigational flag: please decide this line.",
            "outcome_2": "approved",
            "row_version": case.row_version,
        },
        follow=True,
    )
    html = response.content.decode()
    assert "Decision recorded" in html
    case.refresh_from_db()
    assert case.status == CaseStatus.PHYSICIAN_REVIEW
    assert dict(Decision.objects.get(case=case).lines.values_list("service_line__sequence", "outcome")) == {
        1: LineOutcome.REFERRED,
        2: LineOutcome.APPROVED,
    }


def test_the_physician_sees_the_nurses_note_and_decides_only_the_referred_line(
    integration_client, nurse, physician, library
):
    case = two_line_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=nurse,
        lines=[
            DecisionLineInput(service_line=1, outcome="referred", reason="Investigational flag: please decide."),
            DecisionLineInput(service_line=2, outcome="approved"),
        ],
        citations=[],
    )
    html = page(physician, case)
    line_1 = section(html, "line-1")
    assert "Referred by" in line_1
    assert "Investigational flag: please decide." in line_1
    # The line the nurse approved stands: shown, not offered again.
    line_2 = section(html, "line-2")
    assert 'name="outcome_2"' not in html
    assert "Approved ," in text_of(line_2)  # the label, then ", decided ... by"
    assert "it stands and is not decided again" in text_of(line_2)


def test_the_physicians_form_is_prefilled_from_the_decision_of_record(integration_client, nurse, physician, library):
    case = two_line_case(integration_client)
    decision_record(
        case_id=case.pk,
        user=physician,
        lines=[
            DecisionLineInput(service_line=1, outcome="denied", reason="Investigational."),
            DecisionLineInput(service_line=2, outcome="approved", approved_units=2),
        ],
        citations=[CitationInput(policy_version_id=library["investigational"].pk, criterion="Investigational.")],
    )
    reason = "New imaging shows the criteria are met."
    signed_in(physician).post(f"/cases/{case.case_number}/reopen", {"reason": reason, "row_version": 2})
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_REVIEW
    html = page(physician, case)
    assert re.search(r'<option value="denied" selected>', section(html, "line-1"))
    assert re.search(r'<option value="approved" selected>', section(html, "line-2"))
    assert re.search(r'name="units_2" value="2"', section(html, "line-2"))
    assert "Investigational.</textarea>" in section(html, "line-1")
    assert re.search(
        rf'name="cite_1" value="{library["investigational"].pk}" form="decision-form" checked', section(html, "line-1")
    )


def test_a_line_cites_its_flagged_version_with_the_criterion_typed(integration_client, physician, library):
    case = two_line_case(integration_client)
    version = library["investigational"]
    response = signed_in(physician).post(
        f"/cases/{case.case_number}/decide",
        {
            "outcome_1": "denied",
            "reason_1": "Not proven to help.",
            "cite_1": [version.pk],
            f"criterion_1_{version.pk}": "The procedure is investigational.",
            "outcome_2": "approved",
            "row_version": case.row_version,
        },
        follow=True,
    )
    assert "Decision recorded" in response.content.decode(), re.findall(
        r'<p class="message.*?</p>', response.content.decode()
    )
    line = Decision.objects.get(case=case).lines.get(service_line__sequence=1)
    assert [(c.policy_version_id, c.criterion) for c in line.citations.all()] == [
        (version.pk, "The procedure is investigational.")
    ]


def test_an_unreadable_decision_names_the_line_and_field_in_words(integration_client, nurse, library):
    case = two_line_case(integration_client)
    response = signed_in(nurse).post(
        f"/cases/{case.case_number}/decide", {"outcome_2": "approved", "row_version": case.row_version}, follow=True
    )
    html = response.content.decode()
    assert "The decision could not be read: line 1, outcome: This field is required." in html
    assert "outcome_1" not in text_of(html)
    assert not Decision.objects.exists()


def test_the_library_search_is_answered_in_place_by_htmx(integration_client, physician, library):
    html = page(physician, two_line_case(integration_client))
    decide = section(html, "decide")
    search_form = re.search(r'<form id="citation-search"[^>]*>', decide)
    assert search_form
    assert 'hx-get="/policies/search"' in search_form.group(0)
    assert 'hx-target="#citation-search-results"' in search_form.group(0)
    assert 'form="citation-search"' in decide


def test_pend_peer_to_peer_note_and_refer_open_in_place(integration_client, nurse, physician, library):
    case = two_line_case(integration_client)
    nurse_page = page(nurse, case)
    for action in ("pend", "refer", "note"):
        assert f'<details class="action" id="{action}">' in nurse_page
    assert 'id="peer-to-peer"' not in nurse_page
    assert '<details class="action" id="peer-to-peer">' in page(physician, case)


class _Controls(HTMLParser):
    """Each form control of a page, with whether a <label> wraps it, and the ids labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.labels_for: set[str] = set()
        self.controls: list[tuple[str, bool]] = []
        self._in_label = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if tag == "label":
            self._in_label += 1
            if attr.get("for"):
                self.labels_for.add(str(attr["for"]))
        elif tag in ("select", "textarea") or (
            tag == "input" and attr.get("type") not in ("hidden", "submit", "button")
        ):
            self.controls.append((str(attr.get("id") or attr.get("name")), self._in_label > 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._in_label -= 1


@pytest.mark.parametrize("persona", ["nurse", "physician"])
def test_every_control_of_the_page_has_a_label(integration_client, persona, library, request):
    parser = _Controls()
    parser.feed(page(request.getfixturevalue(persona), two_line_case(integration_client)))
    assert len(parser.controls) > 10
    unlabelled = [name for name, wrapped in parser.controls if not wrapped and name not in parser.labels_for]
    assert unlabelled == []


def test_a_fact_with_allowed_values_is_chosen_and_read_by_their_labels(integration_client, nurse, editor):
    FactDefinition.objects.create(
        key="tobacco_use",
        label="Tobacco use",
        value_type="text",
        allowed_values=[
            {"value": "never", "label": "Never smoked"},
            {"value": "quit_6_weeks", "label": "Stopped at least 6 weeks ago"},
            {"value": "current", "label": "Smokes now"},
        ],
    )
    version = factories.draft_version(coverage_position="medically_necessary_with_criteria")
    root = Criterion.objects.create(version=version, node_type="all_of", label="All of the following")
    factories.leaf(version, root, "Does not smoke", "tobacco_use", "in", ["never", "quit_6_weeks"])
    factories.publish(version, editor)
    case = factories.case(integration_client, clinical_facts={"tobacco_use": "current"})
    evidence = section(page(nurse, case), "evidence-1")
    row = text_of(re.search(r'<tr class="not_met">(.*?)</tr>', evidence, re.S).group(1))
    assert "is one of Never smoked, Stopped at least 6 weeks ago" in row
    assert "Smokes now" in row
    assert "quit_6_weeks" not in row
    assert '<option value="quit_6_weeks">Stopped at least 6 weeks ago</option>' in evidence
    response = fact_post(nurse, case, 1, "tobacco_use", "quit_6_weeks")
    assert response.status_code == 200
    assert re.search(r'<tr class="met">', response.content.decode())
