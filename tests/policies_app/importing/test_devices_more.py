"""Device names: marks inside a name, models and series kept with it, list items after "for example", and drugs or
cellular products named beside devices."""

from __future__ import annotations

from policies_app.importing.terms import short_name
from tests.policies_app.importing.reading import devices


def test_a_mark_inside_a_name_keeps_the_device_noun_after_it_beside_a_lower_case_model():
    found = devices(
        "Treatment with the Corvela® System is medically necessary.\n\n"
        "Other devices, including the corvela III system, are investigational.\n"
    )
    assert "Corvela System" in found
    assert "corvela III system" in found


def test_a_marked_brand_written_in_lower_case_with_a_model_in_running_text_is_that_model():
    found = devices(
        "The Brennic® 2 Stimulator System (Halvor Medical) is the current device. "
        "The earlier brennic model 4410 generator is no longer made.\n"
    )
    assert "brennic model 4410" in found


def test_the_word_that_labels_a_model_is_no_brand_in_a_short_name():
    assert short_name("brennic model 4410") == "brennic model 4410"


def test_for_example_introduces_a_list_and_its_unmarked_mate_keeps_its_model():
    found = devices("Laser treatment (for example with the Luvana® or Tezra KX-210 lasers) is medically necessary.\n")
    assert set(found) == {"Luvana", "Tezra KX-210"}


def test_a_lower_case_name_with_a_series_suffix_beside_a_marked_name_is_a_device():
    found = devices("A home unit, such as the Morvik II™ or the zelqo 400-series, is medically necessary.\n")
    assert "zelqo 400-series" in found


def test_a_lower_case_name_after_a_marked_name_and_its_kind_is_a_device():
    found = devices("Scaffolds, such as the Trevix™ implant and dornafil, are investigational.\n")
    assert "dornafil" in found


def test_marked_names_in_brackets_after_a_drug_form_are_drugs():
    found = devices(
        "Cross-linking using a riboflavin ophthalmic solution (Quindra® Forte and Quindra®) with the Lumeo® System "
        "is medically necessary.\n"
    )
    assert set(found) == {"Lumeo System"}


def test_a_marked_name_described_in_brackets_as_cells_is_no_device():
    found = devices(
        "Cartilage repair, including matrix-induced implantation with Chondrel® (autologous cultured chondrocytes "
        "on a collagen membrane), is medically necessary.\n"
    )
    assert found == {}


def test_a_tablet_in_brackets_before_a_marked_name_is_no_drug_form():
    found = devices("Computers, tablets (for example, Slatepad®) and phones are not dedicated devices.\n")
    assert "Slatepad" in found


def test_a_positions_words_after_a_marked_list_are_no_brand():
    found = devices(
        "Ablation, for example with the Venzo® IC catheter, experimental and investigational for venous reflux.\n"
    )
    assert "investigational" not in found


def test_a_lower_case_item_repeating_a_capitalised_mates_kind_is_a_device():
    found = devices("Cooling caps such as Glacera Cooling Caps or tundrix cooling caps are not medically necessary.\n")
    assert "tundrix cooling caps" in found


def test_an_ordinary_word_before_a_capitalised_mates_kind_is_no_device():
    found = devices("Cooling caps such as Glacera Cooling Caps or manual cooling caps are not medically necessary.\n")
    assert "manual cooling caps" not in found


def test_a_company_in_brackets_after_a_marked_product_is_its_maker():
    found = devices(
        "Systems include Trellis® 2 (Vantry). Older systems such as the vantry lodestar are replaced at end of life.\n"
    )
    assert found.get("lodestar") == "lodestar"


def test_a_lower_case_item_led_by_a_named_maker_ends_before_remain():
    found = devices(
        "Devices include Trellis® 2 (Vantry). Older systems such as the vantry lodestar remain in service.\n"
    )
    assert "lodestar" in found
