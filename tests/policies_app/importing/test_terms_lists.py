"""Device lists as payers write them, the short names notes use, and codes in rows that read like headings."""

from __future__ import annotations

from policies_app.importing import extract_document
from policies_app.importing.terms import short_name
from tests.policies_app.importing.reading import DEVICE_POLICY, devices


def test_a_list_introduced_by_include_for_example_is_read():
    found = devices("Products affected include, for example, Zentrol-One, Amberflex and QuadraGel 500.\n")
    assert set(found) == {"Zentrol-One", "Amberflex", "QuadraGel 500"}


def test_unmarked_brands_count_when_a_list_mate_is_marked_as_a_product():
    found = devices(
        "Examples of wearable pumps include the Corvix P3, the Lumena Flow system and the Tandor® 90 patch.\n"
    )
    assert set(found) == {"Corvix P3", "Lumena Flow system", "Tandor 90 patch"}


def test_unmarked_capitalised_words_in_a_list_of_no_products_are_left_out():
    found = devices("Symptoms include Fatigue, Nausea and Dizziness after the session.\n")
    assert found == {}


def test_a_long_full_name_with_a_sign_inside_is_kept_whole():
    found = devices(
        "Devices approved for this use include the ORBIS RX™ Max Left Ventricular Assist Support Device "
        "and the Kestrel™ Right Heart Pump.\n"
    )
    assert "ORBIS RX Max Left Ventricular Assist Support Device" in found


def test_a_list_wrapped_onto_the_next_line_keeps_its_names_whole():
    text = "Systems cleared by the FDA include Helix Neuro Plus, Cortiva Deep\nTMS and the Pulsara Coil System.\n"
    found = devices(text)
    assert set(found) == {"Helix Neuro Plus", "Cortiva Deep TMS", "Pulsara Coil System"}


def test_the_wrapped_names_source_is_the_exact_text_across_the_line_break():
    result = extract_document(
        (
            DEVICE_POLICY
            + "Systems cleared by the FDA include Helix Neuro Plus, Cortiva Deep\nTMS and the Pulsara Coil System.\n"
        ).encode(),
        file="policy.txt",
    )
    term = next(t for t in result.many("terms") if t.value["name"] == "Cortiva Deep TMS")
    assert term.source.text == "Cortiva Deep\nTMS"
    assert result.text[term.source.start : term.source.end] == term.source.text


def test_the_short_name_ends_before_the_first_lower_case_word():
    assert short_name("Glucora 12 implantable sensor") == "Glucora 12"


def test_a_hyphenated_lower_case_word_ends_the_short_name():
    assert short_name("Pelvex R9 battery-free system") == "Pelvex R9"


def test_a_sign_ends_the_brand_of_a_long_name_with_one_model_word():
    assert short_name("ORBIS RX™ Max Left Ventricular Assist Support Device") == "ORBIS RX Max"


def test_a_short_name_of_a_few_words_keeps_them_despite_a_sign():
    assert short_name("Kestrel™ Heart Pump") == "Kestrel Heart Pump"


def test_a_code_row_that_reads_like_a_heading_keeps_its_code():
    text = (
        DEVICE_POLICY
        + "Coding Information\n"
        + "CPT  33999  Unlisted procedure, cardiac surgery\n"
        + "ICD-10-CM  I50.22  Chronic systolic heart failure\n"
    )
    codes = {c.value["code"] for c in extract_document(text.encode(), file="policy.txt").many("codes")}
    assert {"33999", "I50.22"} <= codes


def test_a_list_introduced_by_include_but_are_not_limited_to_with_a_comma_is_read():
    found = devices("Endoscopic devices include, but are not limited to, the Vireo® Gastric Sleeve and Zentrol-One.\n")
    assert set(found) == {"Vireo Gastric Sleeve", "Zentrol-One"}


def test_a_marked_brand_keeps_its_full_name_and_its_brand_as_short_name():
    found = devices("Devices include the Orvane(R) Gastric Balloon System and the Lumena(TM) Suture System.\n")
    assert found == {"Orvane Gastric Balloon System": "Orvane Gastric Balloon", "Lumena Suture System": "Lumena Suture"}


def test_a_marked_name_in_a_table_is_the_whole_cell_without_its_maker():
    found = devices("Maker\tSystem\nNorthwind Medical\tZentra™ XR Wireless SCS System\nKestrel Inc.\tOrvio® 4\n")
    assert set(found) == {"Zentra XR Wireless SCS System", "Orvio 4"}


def test_a_lower_case_brand_beside_marked_names_is_a_product():
    found = devices("Examples include, but are not limited to, the Corvix® P3, the Tandor™ 9 and the lumo walker xt.\n")
    assert "lumo walker xt" in found


def test_a_lower_case_clause_after_a_marked_name_is_no_product():
    found = devices("Vertebral tethering, including the Tethra™ system, is considered investigational.\n")
    assert set(found) == {"Tethra system"}


def test_a_degree_sign_after_a_lower_case_brand_marks_it():
    found = devices("Cryoneurolysis (for example, the frostel° system) is considered investigational.\n")
    assert found == {"frostel system": "frostel"}


def test_a_degree_sign_after_a_number_is_an_angle_not_a_mark():
    assert devices("A curve of 40° or more is treated with bracing.\n") == {}


def test_a_product_named_after_with_in_a_list_item_is_its_own_product():
    found = devices(
        "Covered devices include the Orvio 5 implant with the Sonea CX2 sound processor, and the Zentra 3.\n"
    )
    assert set(found) == {"Orvio 5 implant", "Sonea CX2 sound processor", "Zentra 3"}


def test_a_mark_in_brackets_leaves_no_bracket_in_the_short_name():
    found = devices("Panels include, but are not limited to, GenoScreen(R) Plus and OncoPanel-Wide(TM).\n")
    assert found["OncoPanel-Wide"] == "OncoPanel-Wide"


def test_a_marked_name_inside_a_descriptive_cell_is_read_as_running_text():
    found = devices("Code\tDescription\n64999\tUnlisted procedure using the Zentra® system\n")
    assert set(found) == {"Zentra"}


def test_a_lower_case_brand_with_a_model_in_capitals_is_read_beside_marked_names():
    found = devices("Devices used include the Orvane® Lift kit and the tessa QR anchor system.\n")
    assert set(found) == {"Orvane Lift kit", "tessa QR anchor system"}


def test_a_lower_case_name_ending_in_a_device_noun_counts_in_a_list_of_tests():
    found = devices("Laboratory tests such as Genvara 12 and the quellin tumor assay are also offered.\n")
    assert set(found) == {"Genvara 12", "quellin tumor assay"}


def test_a_lower_case_phrase_in_a_list_of_tests_is_no_product_without_a_device_noun():
    found = devices("Laboratory tests such as Genvara 12 and the usual tumor markers are also offered.\n")
    assert set(found) == {"Genvara 12"}


def test_words_describing_a_product_before_its_brand_are_not_its_name():
    found = devices("Examples include Corvana T2, Luxo Flow 3 and the implantable Sentrix E5 monitor system.\n")
    assert set(found) == {"Corvana T2", "Luxo Flow 3", "Sentrix E5 monitor system"}


def test_a_lower_case_brand_ending_in_us_is_not_taken_for_a_plural():
    found = devices("Examples of braces include the Kordia® OA Lite and the tavo hinge plus.\n")
    assert set(found) == {"Kordia OA Lite", "tavo hinge plus"}


def test_products_listed_one_a_line_below_their_introduction_are_read():
    found = devices("Examples of FDA-approved devices include:\n- Corvana T2 system\n- Luxo Flow 3\n\nMore text.\n")
    assert set(found) == {"Corvana T2 system", "Luxo Flow 3"}


def test_a_description_after_a_dash_on_a_product_line_is_not_its_name():
    found = devices(
        "Tests in this class include the following:\n  • Genvara 12 - a twelve-gene panel\n  • OncoTrace Plus\n"
    )
    assert set(found) == {"Genvara 12", "OncoTrace Plus"}


def test_a_list_below_an_introduction_that_names_no_product_gives_no_devices():
    assert devices("Conservative therapy must include:\n- Physical therapy for 6 weeks\n- Home Exercise\n") == {}


def test_a_product_lines_source_is_the_name_on_that_line():
    result = extract_document(
        (DEVICE_POLICY + "Devices used include:\n- Corvana T2 system\n- Luxo Flow 3\n").encode(), file="policy.txt"
    )
    sources = {t.value["name"]: t.source.text for t in result.many("terms") if t.value["kind"] == "device"}
    assert sources == {"Corvana T2 system": "Corvana T2 system", "Luxo Flow 3": "Luxo Flow 3"}


def test_a_list_in_brackets_after_e_g_ends_with_its_bracket():
    found = devices("Closure with a device (e.g., Corvex™ LAA, Brindle® Sealer) and Halden Wrap 2 is unproven.\n")
    assert set(found) == {"Corvex LAA", "Brindle Sealer"}


def test_a_marked_list_mates_brand_written_in_lower_case_is_a_product():
    found = devices("An occluder (e.g., ZOLAR X™, zolar x plus, Pendra™ Clip) may be used.\n")
    assert set(found) == {"ZOLAR X", "zolar x plus", "Pendra Clip"}


def test_a_lower_case_phrase_sharing_no_brand_with_marked_list_mates_is_no_product():
    found = devices("Exclusion devices (e.g., Pendra™ Clip, surgical suture ligation) are investigational.\n")
    assert set(found) == {"Pendra Clip"}


def test_a_model_after_a_mark_continues_the_name():
    found = devices("Members who use the Vexa(R) 5 pump need new cartridges each month.\n")
    assert found == {"Vexa 5": "Vexa 5"}


def test_capitalised_words_ending_in_a_device_noun_after_a_mark_are_the_full_name():
    found = devices("The Korvo(TM) Vertebral Spinal Anchoring System was cleared in 2021 for the same use.\n")
    assert found == {"Korvo Vertebral Spinal Anchoring System": "Korvo"}


def test_capitalised_words_after_a_mark_without_a_device_noun_are_not_the_name():
    found = devices("Korvo(TM) Spinal Anchoring has limited evidence.\n")
    assert set(found) == {"Korvo"}


def test_a_marked_set_of_criteria_is_no_device():
    assert devices("Reviewers may use Veritas® Surgical criteria only where this guideline is silent.\n") == {}


def test_a_makers_mark_before_a_marked_product_is_left_out_of_the_short_name():
    found = devices("Systems in use include the Halvor™ Brisa® 4 and the Tenso® 2.\n")
    assert found["Halvor Brisa 4"] == "Brisa 4"


def test_a_lower_case_brands_short_name_ends_at_the_lower_case_words_after_its_model():
    assert short_name("v:flow Z3 infusion pump") == "v:flow Z3"


def test_a_lower_case_brand_without_a_model_keeps_all_its_words_as_short_name():
    assert short_name("lumo walker xt") == "lumo walker xt"


def test_the_first_cells_of_a_product_column_are_products_marked_or_not():
    found = devices(
        "Product\tMaker\tCode\nVexa Flow 2\tNorthwind Medical\t11-22\nzolo mini\tAcme Devices\t11-23\n"
        "k:dose Q4 infusion pump with DoseLink software\tKestrel Labs\t11-24\n"
    )
    assert found == {
        "Vexa Flow 2": "Vexa Flow 2",
        "zolo mini": "zolo mini",
        "k:dose Q4 infusion pump with DoseLink software": "k:dose Q4",
    }


def test_a_table_whose_first_column_is_not_named_for_products_gives_no_unmarked_names():
    assert devices("Device\tCode\nKnee brace, prefabricated\tL1833\nHinged Knee Orthosis\tL1845\n") == {}


def test_a_product_cell_that_describes_a_kind_of_product_is_no_product():
    assert devices("Product\tCode\nPump, insulin, external\tE0784\n") == {}


def test_product_rows_that_lost_their_column_gaps_are_split_where_their_case_changes():
    found = devices(
        "  Product Maker Code\n  zolo mini Acme Devices 12-34-56\n  Vexa 5 insulin pump Northwind Medical 12-34-57\n"
        "  Korra Dose Pump Kestrel Labs 12-34-58\n"
    )
    assert found == {"zolo mini": "zolo mini", "Vexa 5": "Vexa 5"}


def test_a_sentence_under_a_line_of_titles_is_not_a_product_row():
    assert devices("  Product Support Line\n  Call the plan when a pump fails, and keep the receipt.\n") == {}


def test_a_lower_case_word_before_a_marked_capitalised_brand_is_not_its_name():
    found = devices("Evidence shows that Korvo® performs as well as fusion.\n")
    assert set(found) == {"Korvo"}


def test_an_e_g_aside_of_unmarked_names_is_no_list_of_products_even_beside_a_device():
    found = devices("The device is fitted after a validated test (e.g., Harlow Balance Index, Tenby Scale) is done.\n")
    assert found == {}


def test_a_list_of_criteria_products_is_no_list_of_devices():
    assert devices("Reviewers apply decision support tools such as Veritas® and Calder™ Care.\n") == {}


def test_a_marked_list_item_naming_criteria_is_no_device():
    found = devices("Sources include the Veritas® Surgical criteria and the Korvo® 3 implant system.\n")
    assert set(found) == {"Korvo 3 implant system"}


def test_devices_that_include_a_list_after_the_word_criteria_are_devices():
    found = devices("Devices billed under these criteria include Korvo® 3 and the Vexa Flow 2 system.\n")
    assert set(found) == {"Korvo 3", "Vexa Flow 2 system"}


def test_a_makers_name_before_a_product_is_left_out_when_the_document_names_the_maker():
    found = devices(
        "Halvor Medical, Inc. supplies the processors. Systems include the Halvor Medical Brisa® 4 and the Tenso® 2.\n"
    )
    assert found == {"Brisa 4": "Brisa 4", "Tenso 2": "Tenso 2"}


def test_a_maker_in_a_supplier_column_is_left_out_of_the_product_cell():
    found = devices("Product\tSupplier\nKestrel Zolo Flow 3\tKestrel\nVexa Flow 2\tNorthwind Medical\n")
    assert set(found) == {"Zolo Flow 3", "Vexa Flow 2"}


def test_a_makers_name_stays_before_a_model_alone():
    found = devices("Sensors include the Dextra® G7 and the Lumo® 3, both made by Dextra.\n")
    assert set(found) == {"Dextra G7", "Lumo 3"}


def test_a_makers_name_stays_before_a_lower_case_product():
    found = devices("Product\tSupplier\nkestrel mini\tKestrel\n")
    assert set(found) == {"kestrel mini"}


def test_a_makers_name_stays_when_the_document_does_not_name_the_maker():
    found = devices("Systems include the Halvor Medical Brisa® 4 and the Tenso® 2.\n")
    assert set(found) == {"Halvor Medical Brisa 4", "Tenso 2"}


def test_a_table_of_insurance_products_gives_no_devices():
    found = devices("Product\tApplies\nHMO\tYes\nMedicare Advantage\tNo\nIndividual and Family\tYes\n")
    assert found == {}


def test_a_plain_title_case_cell_in_a_product_column_is_no_device():
    assert devices("Product\tSupplier\nHinged Knee Brace\tNorthwind Medical\nVexa Flow 2\tNorthwind Medical\n") == {
        "Vexa Flow 2": "Vexa Flow 2"
    }


def test_short_name_leaves_out_a_makers_plain_name_before_a_brand_with_a_capital_inside():
    assert short_name("Halvern Medical ZenTrak") == "ZenTrak"


def test_short_name_leaves_out_a_maker_before_an_acronym_and_its_model_number():
    assert short_name("Corvane Dalby VBPX 4200") == "VBPX 4200"


def test_short_name_keeps_a_capitalised_name_whose_later_words_show_no_brand_form():
    assert short_name("Corvane CRT") == "Corvane CRT"
    assert short_name("Dextra G7") == "Dextra G7"


def test_short_name_leaves_out_a_lower_case_makers_word_before_a_hyphenated_or_numbered_name():
    assert short_name("halvern zolo-scan") == "zolo-scan"
    assert short_name("halvern vexa 3") == "vexa 3"


def test_short_name_of_a_two_word_lower_case_name_is_its_second_word_when_it_is_a_word_of_its_own():
    assert short_name("halvern vexamini") == "vexamini"


def test_short_name_keeps_a_two_word_lower_case_name_ending_in_a_short_model_word():
    assert short_name("zolo plus") == "zolo plus"


def test_a_list_run_on_below_a_line_ending_in_include_is_read():
    found = devices(
        "Examples of stimulators include, but are not limited to:\nZentrol(R), Amberflex(R), QRX 500 and the halvern\n"
        "vexa-stim. Other devices are not covered.\n"
    )
    assert set(found) == {"Zentrol", "Amberflex", "QRX 500", "halvern vexa-stim"}


def test_a_lower_case_name_after_and_in_a_comma_list_beside_marked_names_is_an_item_of_its_own():
    found = devices("Designs include Zentrol™, Amberflex™ Pro and vexalux.\n")
    assert set(found) == {"Zentrol", "Amberflex Pro", "vexalux"}


def test_a_lower_case_name_after_or_beside_a_marked_name_is_an_item_of_its_own():
    found = devices("Lenses such as Corvane CRT® or halvern lumis are investigational.\n")
    assert set(found) == {"Corvane CRT", "halvern lumis"}
    assert found["halvern lumis"] == "lumis"


def test_a_clause_after_the_last_comma_of_a_list_is_no_item():
    found = devices("Fillers, e.g., Zentrol® Lift, Amberflex®-L and vexa balance, are considered cosmetic.\n")
    assert set(found) == {"Zentrol Lift", "Amberflex-L", "vexa balance"}


def test_generic_words_and_services_ending_a_marked_list_are_no_products():
    found = devices("Devices such as Zentrol™, Amberflex™ or similar are used.\n")
    found |= devices("Procedures such as Vexa™ or open surgery are used.\n")
    found |= devices("Closure (e.g., Pendra™ Clip, suture ligation) is used.\n")
    assert set(found) == {"Zentrol", "Amberflex", "Vexa", "Pendra Clip"}


def test_the_subject_of_a_second_list_in_the_sentence_is_no_item_of_the_first():
    found = devices(
        "Systems include the TALLIS(R) Multi-Axis(TM) MRI and\ndedicated open scanners such as the halvern q-scan.\n"
    )
    assert set(found) == {"TALLIS Multi-Axis MRI", "halvern q-scan"}


def test_a_lower_case_name_with_a_coined_hyphenated_word_after_the_in_a_list_of_scanners_is_a_device():
    found = devices("Dedicated scanners such as the halvern q-scan lite are not covered.\n")
    assert set(found) == {"halvern q-scan lite"}


def test_a_lower_case_phrase_after_the_in_a_list_of_scanners_without_a_model_form_is_no_device():
    assert devices("Dedicated scanners such as the open upright unit are not covered.\n") == {}


def test_a_name_led_by_a_brand_the_document_marks_elsewhere_is_a_device():
    found = devices(
        "Tests include Vexagen® 21 PLUS.\nScreening for microdeletions, e.g. Vexagen WIDE, is investigational.\n"
    )
    assert set(found) == {"Vexagen 21 PLUS", "Vexagen WIDE"}


def test_a_marked_names_hyphenated_model_wrapped_onto_the_next_line_is_kept():
    result = extract_document(
        (DEVICE_POLICY + "An example of an implanted stimulator is the Zolvex(R)\nPLUS-Mini.\n").encode(),
        file="policy.txt",
    )
    terms = [t for t in result.many("terms") if t.value["kind"] == "device"]
    assert [t.value["name"] for t in terms] == ["Zolvex PLUS-Mini"]
    assert terms[0].source.text == "Zolvex(R)\nPLUS-Mini"


def test_a_capitalised_sentence_start_on_the_next_line_is_not_a_marked_names_model():
    assert set(devices("The device is the Zolvex(R)\nMRI is not needed.\n")) == {"Zolvex"}


def test_a_table_cell_ending_in_a_list_does_not_run_on_into_the_next_cell():
    page = (
        "<html><body><h1>Invented Procedure</h1><p>Policy Number: NW-0042</p><p>Effective Date: 03/01/2025</p>"
        "<p>Tests include Vexagen® 21.</p><table><tr><td>4</td>"
        "<td>Genome-wide screening, e.g. Vexagen WIDE</td><td>Investigational</td>"
        "<td>All of:<ul><li>Twin pregnancy</li><li>Counselling documented</li></ul></td></tr></table>"
        "</body></html>"
    )
    result = extract_document(page.encode(), file="policy.html")
    found = {t.value["name"] for t in result.many("terms") if t.value["kind"] == "device"}
    assert found == {"Vexagen 21", "Vexagen WIDE"}


def test_the_bracket_closing_an_aside_after_the_last_name_is_not_in_its_source():
    text = (
        "Topical oxygen therapy, including continuous diffusion and cyclical\n"
        "pressure devices (for example ZOLVEX(TM), Kirra(R) and the vexa o2), is\nunproven.\n"
    )
    result = extract_document((DEVICE_POLICY + text).encode(), file="policy.txt")
    sources = {t.value["name"]: t.source.text for t in result.many("terms") if t.value["kind"] == "device"}
    assert sources["vexa o2"] == "vexa o2"


def test_an_abbreviation_cut_by_the_sentence_end_in_a_marked_list_is_no_product():
    assert set(devices("Tests such as the Zentrol® kit, e.g. for screening, are used.\n")) == {"Zentrol kit"}
