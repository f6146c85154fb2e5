"""Web pages holding forms: a questionnaire's questions are text, a search box and a form's choices are not."""

from __future__ import annotations

from policies_app.importing.readers import read_html


def test_a_form_asking_questions_with_radio_buttons_is_read():
    page = (
        "<html><body><p>Intro</p><form><fieldset><legend>Part 2. Questions</legend>"
        "<p>1. Does the member use a cane?</p>"
        '<label><input type="radio" name="q" value="yes"> Yes</label></fieldset></form></body></html>'
    )
    text = read_html(page).text
    assert "Part 2. Questions\n1. Does the member use a cane?" in text


def test_a_search_form_stays_unread():
    page = (
        '<html><body><form><p>Search the library</p><input type="text" name="q"></form><p>Policy text</p></body></html>'
    )
    assert "Search the library" not in read_html(page).text


def test_the_choices_of_a_select_in_a_questionnaire_are_not_text():
    page = (
        "<html><body><form><label>Plan <select><option>Gold plan</option></select></label>"
        '<p>1. Is the member over 12?</p><input type="checkbox" name="c"></form></body></html>'
    )
    text = read_html(page).text
    assert "Gold plan" not in text and "1. Is the member over 12?" in text
