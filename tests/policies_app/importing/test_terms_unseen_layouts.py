"""Device names on layouts the importer had not read: short names that are no ordinary word, and lists that name none."""

from __future__ import annotations

from policies_app.importing.terms import is_common_word, short_name
from tests.policies_app.importing.reading import devices


def test_common_words_come_from_the_shipped_word_list():
    assert is_common_word("balance")
    assert is_common_word("Placebo")
    assert not is_common_word("vexamini")


def test_a_lower_case_name_keeps_its_first_word_when_the_rest_is_a_common_word():
    assert short_name("corvane balance") == "corvane balance"
    assert short_name("corvane vexamini") == "vexamini"


def test_a_short_name_is_never_one_common_word_when_the_name_says_more():
    assert short_name("Balance™ knee brace") == "Balance knee brace"
    assert short_name("Balance™ Valve System") == "Balance Valve"
    assert short_name("Quelra™ knee brace") == "Quelra"


def test_a_rarer_word_is_a_short_name_of_its_own():
    assert short_name("halvern summit") == "summit"


def test_the_kind_and_energy_of_a_device_are_left_out_of_its_short_name():
    assert short_name("Quelra Valve System") == "Quelra"
    assert short_name("vantrel RF catheter") == "vantrel"
    assert short_name("Quelra Pulsed RF System") == "Quelra"


def test_a_common_word_after_or_beside_a_marked_name_is_no_brand():
    found = devices("Devices such as the Kivoran® or placebo were compared in two small trials.\n")
    assert set(found) == {"Kivoran"}
    found = devices("Devices such as the Kivoran® or sham were compared in two small trials.\n")
    assert set(found) == {"Kivoran"}


def test_a_lower_case_brand_ending_a_marked_list_is_kept_unless_it_is_an_everyday_word():
    found = devices("Devices in use include Kivoran®, Tessaly™ and summit.\n")
    assert set(found) == {"Kivoran", "Tessaly", "summit"}
    found = devices("Devices in use include Kivoran®, Tessaly™ and comfort.\n")
    assert set(found) == {"Kivoran", "Tessaly"}


def test_an_unmarked_condition_in_a_list_of_indications_is_no_device():
    found = devices(
        "The implant has been tried for conditions such as migraine, Harlow syndrome, Brenner disease and asthma, "
        "without benefit.\n"
    )
    assert found == {}


def test_a_products_generation_word_is_not_part_of_its_name():
    found = devices("Pumps seen at renewal include the Corvix™, the Lumena™ and the newer halvern vexa-ic.\n")
    assert found["halvern vexa-ic"] == "vexa-ic"
    assert not any(name.startswith("newer") for name in found)


def test_a_list_introduction_split_by_a_soft_line_break_is_read():
    found = devices("Orthoses such\nas the Corvo Shell and the Brista Arc are fitted by an orthotist.\n")
    assert set(found) == {"Corvo Shell", "Brista Arc"}


def test_a_lower_case_phrase_after_or_ends_a_capitalised_name():
    found = devices("Cooling helmets such as Polaris Chill Helmet or reusable gel packs are not covered.\n")
    assert set(found) == {"Polaris Chill Helmet"}
