"""A fact recorded through the htmx control leaves the whole page consistent without a reload:
the line's checklist in place, and out of band the other lines whose criteria read the fact,
the case's worst flag, its clinical facts and its timeline."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from casemgmt.cases.services.intake import LineInput
from tests.casemgmt.workspace.test_case_page import (  # noqa: F401 (fixtures)
    fact_post,
    library,
    media_root,
    page,
    text_of,
    two_line_case,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("library")]


def out_of_band(fragment: str, element_id: str) -> str:
    """The element `element_id` the answer swaps out of band, as text; "" when it swaps none."""
    found = re.search(
        rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*hx-swap-oob="true"[^>]*>(.*?)</\1>\s*(?=<|\Z)',
        fragment,
        re.S,
    )
    return text_of(found.group(2)) if found else ""


def criteria_case(client, *, lines: int = 1):
    """CPT 62331 lines under the criteria policy: twelve weeks of therapy are met, imaging is unknown."""
    dos = timezone.localdate() + timedelta(days=10)
    return two_line_case(
        client,
        service_lines=tuple(
            LineInput(code_system="CPT", code="62331", units=1, date_of_service=dos + timedelta(days=i))
            for i in range(lines)
        ),
        clinical_facts={"conservative_therapy_weeks": 14},
    )


def test_a_recorded_fact_appears_in_the_timeline_without_a_reload(integration_client, nurse):
    case = two_line_case(integration_client)
    before = page(nurse, case)
    count = int(re.search(r'id="timeline-count"[^>]*>\((\d+) event', before).group(1))
    fragment = fact_post(nurse, case, 2, "conservative_therapy_weeks", "14").content.decode()
    timeline = out_of_band(fragment, "timeline-events")
    assert "Clinical fact recorded from the documentation by" in timeline
    assert "14 weeks (was 8 weeks), found in Therapy note, page 2" in timeline
    counted = int(re.search(r"\((\d+) event", out_of_band(fragment, "timeline-count")).group(1))
    assert counted > count


def test_the_timeline_words_a_recorded_fact_by_its_label_and_unit(integration_client, nurse):
    case = two_line_case(integration_client)
    fact_post(nurse, case, 2, "conservative_therapy_weeks", "14", htmx=False)
    timeline = text_of(page(nurse, case).split('id="timeline-events"', 1)[1].split("</ol>", 1)[0])
    assert "Weeks of failed conservative therapy: 14 weeks (was 8 weeks)" in timeline
    assert "conservative_therapy_weeks" not in timeline


def test_a_recorded_fact_refreshes_the_cases_worst_flag(integration_client, nurse):
    case = criteria_case(integration_client)
    assert "Worst flag: Criteria unknown" in text_of(page(nurse, case))
    fragment = fact_post(nurse, case, 1, "imaging_confirms_stenosis", "true").content.decode()
    assert out_of_band(fragment, "case-worst-flag").startswith("Worst flag: Criteria met")


def test_a_recorded_fact_refreshes_the_clinical_facts(integration_client, nurse):
    case = criteria_case(integration_client)
    fragment = fact_post(nurse, case, 1, "imaging_confirms_stenosis", "true").content.decode()
    facts = out_of_band(fragment, "clinical-facts")
    assert "Weeks of failed conservative therapy 14 weeks" in facts
    assert "yes" in facts


def test_a_recorded_fact_refreshes_the_other_lines_whose_criteria_read_it(integration_client, nurse):
    case = criteria_case(integration_client, lines=2)
    fragment = fact_post(nurse, case, 1, "imaging_confirms_stenosis", "true").content.decode()
    assert fragment.lstrip().startswith('<div class="line-evidence" id="evidence-1">')
    other = out_of_band(fragment, "evidence-2")
    assert "Criteria met" in other
    assert "Recorded." not in other


def test_a_line_whose_criteria_do_not_read_the_fact_is_left_as_it_is(integration_client, nurse):
    case = two_line_case(integration_client)
    fragment = fact_post(nurse, case, 2, "conservative_therapy_weeks", "14").content.decode()
    assert 'id="evidence-1"' not in fragment


def test_a_refused_fact_swaps_nothing_out_of_band(integration_client, nurse):
    case = two_line_case(integration_client)
    fragment = fact_post(nurse, case, 2, "conservative_therapy_weeks", "many").content.decode()
    assert 'role="alert"' in fragment
    assert "hx-swap-oob" not in fragment
