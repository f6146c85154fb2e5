"""Device names written the ways layouts not read before write them: lower-case brands, models, drug brands, asides."""

from __future__ import annotations

from tests.policies_app.importing.reading import devices


def test_the_name_a_product_is_sold_as_is_a_device_beside_its_marked_family():
    found = devices(
        "The Velmora® headset is worn for an hour a day; the newest model is sold as velmora flex. Coverage follows.\n"
    )
    assert {"Velmora", "velmora flex"} <= set(found)


def test_a_coined_word_after_a_kind_of_product_is_a_brand_and_a_modal_verb_ends_it():
    found = devices("Older generators such as quintarel may still be serviced under this policy.\n")
    assert set(found) == {"quintarel"}


def test_a_coined_word_with_its_kind_of_product_is_named_without_the_kind():
    found = devices("Recovery compression systems such as brivanta boots are not covered.\n")
    assert set(found) == {"brivanta"}


def test_a_coined_word_the_document_keeps_using_is_its_subject_not_a_brand():
    body = (
        "Zelofen relieves spasm. Delivery systems such as zelofen pumps are implanted.\n"
        "Dosing of zelofen is adjusted monthly.\n"
    )
    assert "zelofen" not in {name.lower() for name in devices(body)}


def test_an_ordinary_word_after_a_kind_of_product_is_no_brand():
    assert devices("Older models such as standard may still be serviced.\n") == {}


def test_a_comma_inside_a_makers_aside_splits_no_item():
    found = devices("Examples include the Torvane® (Halcyon Devices, Inc.) and the Kestrel™ (Brightwater Ltd.).\n")
    assert set(found) == {"Torvane", "Kestrel"}


def test_a_bracketed_list_of_examples_still_gives_its_items():
    found = devices(
        "Wound therapy, including pressure devices (for example Zolo™, Kira(R) and the vexa x2), is unproven.\n"
    )
    assert {"Zolo", "Kira", "vexa x2"} <= set(found)


def test_a_short_model_code_beside_marked_names_is_a_device():
    found = devices("Examples of dedicated devices include the Marlo® 300, the Pendra® 8 and the K-12 (Acme Voice).\n")
    assert {"Marlo 300", "Pendra 8", "K-12"} <= set(found)


def test_a_short_capitalised_word_without_a_model_number_is_no_device():
    found = devices("Examples include the Marlo® 300 and MRI.\n")
    assert "MRI" not in found


def test_a_lower_case_brand_with_a_model_beside_marked_names_is_a_device():
    found = devices("Programmable pumps include the Vantor™ II (Acme) and the quillon III (Beta Corp).\n")
    assert {"Vantor II", "quillon III"} <= set(found)


def test_a_coined_lower_case_marked_word_is_the_brand_without_its_kind():
    found = devices("The brelto™ pump is billed with the rental code.\n")
    assert set(found) == {"brelto"}


def test_marked_names_in_a_sentence_about_a_drug_are_no_devices():
    found = devices("Ondrel injection is supplied as Marvexa® or Pellidon® 40 mg vials.\n")
    assert found == {}


def test_the_food_and_drug_administration_does_not_make_a_sentence_about_a_drug():
    found = devices("Approved by the Food and Drug Administration, the Zolvane® Valve System is covered.\n")
    assert "Zolvane Valve System" in found or "Zolvane" in found


def test_a_word_of_a_brands_own_form_before_its_kind_of_product_is_a_device():
    found = devices("Readings from the vitaTrak meter are also accepted.\n")
    assert set(found) == {"vitaTrak"}


def test_a_word_of_mixed_case_before_no_kind_of_product_is_no_device():
    assert devices("The eGFR result is recorded.\n") == {}


def test_a_drug_coated_product_is_still_a_device():
    found = devices("The Corlith® drug-eluting stent is covered.\n")
    assert set(found) == {"Corlith"}


def test_an_activity_after_a_kind_of_product_is_no_brand():
    assert devices("Home monitors such as televaluing may still be used.\n") == {}
