"""Device names: marks inside a name, models and series kept with it, list items after "for example", and drugs or
cellular products named beside devices."""

from __future__ import annotations

from policies_app.importing.terms import short_name
from tests.policies_app.importing.reading import devices, extract


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


def test_a_full_name_wrapped_after_its_mark_runs_on_to_its_device_noun():
    found = devices("Treatment with the Halmar(R)\nAirway Clearance System is covered.\n")
    assert "Halmar Airway Clearance System" in found


def test_a_wrapped_full_name_runs_on_only_to_a_device_noun():
    found = devices("Treatment with the Halmar(R)\nAirway Clearance at home is covered.\n")
    assert "Halmar" in found


def test_the_words_describing_a_kind_left_out_of_a_short_name_go_with_it():
    assert short_name("Zelvo® Endobronchial Valve System") == "Zelvo"


def test_marked_list_mates_repeating_one_kind_after_their_marks_are_named_by_their_brands():
    found = devices(
        "Examples include the Travina® Lumbar Disc, the Quelto LX™ Lumbar Disc and the Brevo™ Artificial Lumbar Disc.\n"
    )
    assert found == {
        "Travina Lumbar Disc": "Travina",
        "Quelto LX Lumbar Disc": "Quelto LX",
        "Brevo Artificial Lumbar Disc": "Brevo",
    }


def test_one_brands_list_mates_repeating_a_kind_keep_the_words_that_tell_them_apart():
    found = devices("Examples include the Travina® Lung Panel and the Travina® Breast Panel.\n")
    assert found == {"Travina Lung Panel": "Travina Lung Panel", "Travina Breast Panel": "Travina Breast Panel"}


def test_one_word_repeated_after_marks_is_a_models_own():
    found = devices("Examples include Travina® Plus and Quelto™ Flow Plus.\n")
    assert found["Travina Plus"] == "Travina Plus"


def test_a_type_suffix_is_no_part_of_a_short_name():
    assert short_name("Morvane Kestel-type brace") == "Morvane Kestel"


def test_a_lower_case_model_with_a_digit_ends_a_lower_case_brand():
    assert short_name("zelvo nx4 embolic filter") == "zelvo nx4"


def test_a_lower_case_name_before_a_kind_of_product_is_not_a_makers_product():
    assert short_name("tarvik brace") == "tarvik brace"


def test_examples_of_a_kind_introduce_a_list():
    found = devices("Examples of custom splints are the Norvell(R) Avant and the Kitra(TM) 2.\n")
    assert set(found) == {"Norvell Avant", "Kitra 2"}


def test_examples_of_a_kind_introduce_a_list_across_a_line_break():
    found = devices(
        "Examples of stents and filters\nused for this are the Trevano(R) Stent System and the zelvo nx4 filter.\n"
    )
    assert "zelvo nx4 filter" in found


def test_a_lower_case_brand_and_its_model_in_a_list_end_before_the_kind_of_product():
    found = devices(
        "Examples of devices are the Trevano(R) Stent System and the zelvo nx4 embolic protection system.\n"
    )
    assert "zelvo nx4" in found


def test_a_capitalised_article_before_a_list_item_is_no_part_of_it():
    found = devices("Devices reviewed include Corvest(R), The Pulsora(R) Lung\nClearance System and Pulvo(R).\n")
    assert "Pulsora Lung Clearance System" in found


def test_a_products_name_as_a_sentences_subject_after_a_list_of_products_is_a_device():
    found = devices(
        "Approved implants include the Travina® Lumbar Disc. The Quelvane Artificial Disc is no longer marketed. "
        "The zorflex|spine disc has no approval and is investigational.\n"
    )
    assert {"Quelvane Artificial Disc", "zorflex|spine"} <= set(found)


def test_a_lower_case_brand_and_its_model_as_a_subject_after_a_list_is_a_device():
    found = devices(
        "Approved implants include the Travina® Disc. The travdisc K Nova is approved for one level only.\n"
    )
    assert "travdisc K Nova" in found


def test_a_makers_device_or_an_abbreviation_as_a_subject_is_no_device():
    found = devices(
        "Devices include the Travina® Pump. The Acmedica device is recalled. The FDA-approved device is listed. "
        "The ODI is measured.\n"
    )
    assert set(found) == {"Travina Pump"}


def test_a_lower_case_adjective_before_a_kind_of_product_as_a_subject_is_no_device():
    found = devices("Devices include the Travina® Balloon. The intragastric balloon is removed after 6 months.\n")
    assert set(found) == {"Travina Balloon"}


def test_a_capitalised_subject_the_document_also_writes_in_lower_case_is_no_device():
    found = devices(
        "Devices include the Travina® Pump. The Intragastric Balloon is removed. Each intragastric device is checked.\n"
    )
    assert set(found) == {"Travina Pump"}


def test_a_mark_at_the_end_of_a_web_pages_block_takes_no_words_from_the_next_block():
    result = extract(
        "<html><body><h1>Invented Procedure</h1><p>Treatment uses the Travina&reg;</p>"
        "<p>Quelto Pump System use is reviewed.</p></body></html>",
        file="policy.html",
    )
    assert {t.value["name"] for t in result.many("terms") if t.value["kind"] == "device"} == {"Travina"}


def test_a_sentences_subject_far_from_any_product_is_no_device():
    found = devices(
        "Devices include the Travina® Pump.\n\nBackground\n\nThe Quelvane Artificial Disc is no longer marketed.\n"
    )
    assert "Quelvane Artificial Disc" not in found


POLICY_HEAD = (
    "Northwind Health Plan\nMedical Policy\n\nTitle: Invented Procedure\nPolicy Number: NW-0042\n"
    "Effective Date: 03/01/2025\n\nPolicy\n\n"
)


def procedures(body: str) -> set[str]:
    result = extract(POLICY_HEAD + body)
    return {t.value["name"] for t in result.many("terms") if t.value["kind"] == "procedure"}


def test_a_procedure_name_ends_before_a_relative_clause():
    assert procedures("Swallowable capsules that need no endoscopy are investigational.\n") == {"swallowable capsules"}


def test_a_list_marker_is_no_part_of_a_procedure_name():
    found = procedures("- Balloon replacement after removal is not medically necessary.\n")
    assert found == {"balloon replacement after removal"}


def test_a_statement_about_a_named_device_gives_no_procedure():
    found = procedures(
        "Devices include the Travina® Disc. The zorflex|spine disc has no approval and is investigational.\n"
    )
    assert found == set()


def test_a_procedure_name_ends_before_the_device_it_is_done_with():
    assert procedures("Nerve stimulation with the Travina® System is medically necessary.\n") == {"nerve stimulation"}


def test_a_statement_about_criteria_gives_no_procedure():
    found = procedures(
        "All of the criteria below must be met before lumbar fusion is considered medically necessary.\n"
    )
    assert not any("criteria" in name for name in found)


def test_a_markup_substitution_for_a_mark_marks_the_name_before_it():
    found = devices("Cleared capsules include Vantrix\\ |reg| LB 4 for the small bowel.\n")
    assert "Vantrix LB 4" in found


def test_a_version_number_before_a_mark_is_part_of_the_name():
    found = devices("The Brolane 3.5 (R) wrap is worn on the calf.\n")
    assert "Brolane 3.5" in found


def test_a_lower_case_label_of_a_plural_kind_opens_a_list():
    found = devices("Light sources: Lumora® lamp or brivex qt.\n")
    assert "brivex qt" in found


def test_a_title_case_label_opens_no_list():
    found = devices("Products: Commercial HMO, Commercial PPO plans\n")
    assert found == {}


def test_a_lower_case_brand_with_a_model_ends_at_its_model_before_its_kind():
    found = devices("Examples of covered units: zelmo 400 two-lead unit, Kadrix® 2 wearable unit.\n")
    assert "zelmo 400" in found


def test_words_describing_a_lower_case_brand_with_a_model_are_no_part_of_it():
    found = devices("Cleared devices include Kadrix® 2 and the small branded zelmo 40 system.\n")
    assert "zelmo 40" in found


def test_a_bracket_of_examples_after_a_sentence_about_devices_names_them():
    found = devices("Devices that stimulate the vagus nerve (for example Vornix Duo) are investigational.\n")
    assert "Vornix Duo" in found


def test_serial_numbers_given_as_examples_are_no_devices():
    found = devices("The Kadrix® device is rented; serial number formats such as KX-4410-12 are not needed.\n")
    assert "KX-4410-12" not in found


def test_a_coined_brand_before_its_kind_is_written_without_the_kind():
    found = devices("Systems include Kadrix® and the brolvane balloon for the sinuses.\n")
    assert found.get("brolvane balloon") == "brolvane"


def test_a_coined_word_in_brackets_after_a_device_noun_is_its_brand():
    found = devices("A temporary expanding device (zorvim) is considered investigational.\n")
    assert "zorvim" in found


def test_a_describing_word_in_brackets_after_a_device_noun_is_no_brand():
    found = devices("A temporary expanding device (retractable) is considered investigational.\n")
    assert "retractable" not in found


def test_lower_case_words_after_a_mark_in_a_list_item_are_its_kind_not_its_short_name():
    found = devices("Devices include the Kelvar(TM) Cuff System and the dorvo (R) adjustable cuff.\n")
    assert found.get("dorvo adjustable cuff") == "dorvo"


def test_an_everyday_word_written_in_capitals_before_a_mark_is_a_brand_without_its_kind():
    found = devices("Examples of hinges include the ORBIT(TM) elbow and the Dorsa(R) wrist.\n")
    assert found.get("ORBIT elbow") == "ORBIT"


def test_a_rarer_word_before_a_marked_mates_kind_is_a_brand_written_without_the_kind():
    found = devices("Examples of hinges include the Kelvar(TM) elbow and the tundra elbow.\n")
    assert found.get("tundra elbow") == "tundra"


def test_an_everyday_word_before_a_marked_mates_kind_is_no_brand():
    found = devices("Examples of hinges include the Kelvar(TM) elbow and the right elbow.\n")
    assert "right" not in found.values()


def test_a_coined_word_before_a_described_kind_of_device_is_the_brand():
    found = devices("Implants in use include the Torvex(R) Grip and the quintra malleable prosthesis.\n")
    assert found.get("quintra malleable prosthesis") == "quintra"


def test_a_coined_word_before_a_plural_kind_in_a_marked_list_is_a_device():
    found = devices("Embolic agents such as Velsphere®, Arc Block™ and brelvo microspheres may be used.\n")
    assert found.get("brelvo microspheres") == "brelvo"


def test_a_list_in_a_quoted_csv_cell_ends_at_the_full_stop_before_the_quotation_mark():
    found = devices(
        'DEVICE,D1,,,,"Examples of hinges include the Kelvar(TM) elbow and the brindle elbow."\n'
        "CRITERION,C1,,ALL,,All of the following criteria are met:\n"
    )
    assert found.get("brindle elbow") == "brindle"


def test_a_model_after_a_mark_may_end_in_a_plus_sign():
    found = devices("Fundoplication with the VexaplyX® Q+ device is medically necessary.\n")
    assert "VexaplyX Q+" in found


def test_a_model_after_a_mark_may_be_initials_with_a_small_letter_between():
    found = devices("Resection with the KORA PlasmaKnife™ TnA is medically necessary.\n")
    assert "KORA PlasmaKnife TnA" in found


def test_a_lower_case_word_marked_after_a_brand_of_its_own_form_is_that_brands_model():
    found = devices(
        "Devices used include vexaGraft inject® W and Corvo® Stent. "
        "vexaGraft prime® (standalone) is addressed in the investigational statement above.\n"
    )
    assert found.get("vexaGraft prime") == "vexaGraft prime"


def test_a_lower_case_model_listed_in_a_sentence_naming_a_marked_product_is_a_device():
    found = devices(
        "Partial resection is covered, whether performed with a Zolation® wand or a powered shaver such as the "
        "vexashot m5.\n"
    )
    assert "vexashot m5" in found


def test_a_lower_case_model_listed_in_a_sentence_naming_no_product_is_no_device():
    found = devices(
        "Partial resection is covered, whether performed with a laser wand or a powered shaver such as the "
        "vexashot m5.\n"
    )
    assert found == {}


def test_a_phrase_of_common_words_listed_beside_a_marked_product_is_no_device():
    found = devices("Pain treated with the Zolo® patch, in conditions such as the type 2 diabetes, is covered.\n")
    assert set(found) == {"Zolo"}


def test_everyday_words_describing_a_coined_name_with_its_model_are_no_part_of_it():
    found = devices("Devices used include the Corvo® Stent and the lower-profile vexa360.\n")
    assert "vexa360" in found


def test_the_word_that_labels_a_model_stays_before_a_coined_name():
    found = devices("Devices used include the Corvo® Stent and the model vexa360.\n")
    assert "model vexa360" in found


def test_a_lower_case_name_after_a_semicolon_and_a_marked_product_is_a_device_without_its_kind():
    found = devices("Investigational: Vexta® radiofrequency system; the kordus lune stapler\n")
    assert found.get("kordus lune stapler") == "kordus lune"


def test_a_lower_case_name_joined_to_a_marked_subject_is_a_device_up_to_its_verb():
    found = devices("The ZeCerf™ ceramic system and the k2 ceramic resurfacing cup are investigational.\n")
    assert "k2 ceramic resurfacing cup" in found


def test_ordinary_words_joined_to_a_marked_product_are_no_device():
    found = devices("Treatment with Zolo® or the usual care is covered.\n")
    assert set(found) == {"Zolo"}


def test_an_everyday_word_before_a_lower_case_name_of_rarer_words_is_left_out_of_its_short_name():
    assert short_name("swift veltra glide hd") == "veltra glide hd"


def test_a_lower_case_makers_name_before_a_brand_and_its_model_stays_out_of_the_short_name_before_a_kind():
    found = devices("Plates such as the Kelvar(TM) Plate and the halvor vexo 2 system are used.\n")
    assert found.get("halvor vexo 2 system") == "vexo 2"
