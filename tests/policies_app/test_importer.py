"""The policy importer: parsing both payer formats, the import service and `manage.py import_policy`."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from casemgmt.cases.models import Flag
from casemgmt.cases.services.intake import LineInput
from casemgmt.kernel.errors import PermissionDeniedError
from casemgmt.kernel.roles import Role
from policies_app.importer import BCBS_MN, WELLMARK, ImportRefused, parse_policy
from policies_app.models import Policy, PolicyCode, PolicyTerm, PolicyVersion, RequirementRule
from policies_app.services import policy_import, policy_version_publish
from tests import factories

SAMPLES = Path(__file__).resolve().parent / "samples"
SHARED_POLICIES = Path(__file__).resolve().parents[3] / "shared" / "policies"
WELLMARK_REAL = SHARED_POLICIES / "wellmark-07.01.89-image-guided-minimally-invasive-decompression.txt"
BCBSMN_REAL = SHARED_POLICIES / "bcbsmn-dynamic-spine-stabilization.txt"
needs_shared = pytest.mark.skipif(not SHARED_POLICIES.is_dir(), reason="../shared/policies is absent")


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def counts() -> tuple[int, int, int, int]:
    return (
        Policy.objects.count(),
        PolicyVersion.objects.count(),
        PolicyCode.objects.count(),
        PolicyTerm.objects.count(),
    )


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()]


@pytest.fixture(autouse=True)
def media(settings, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def wellmark_sample():
    return parse_policy(sample("wellmark-cryoablation.txt"))


@pytest.fixture
def bcbsmn_sample():
    return parse_policy(sample("bcbsmn-spinal-tethering.txt"))


# --- parsing the Wellmark format ------------------------------------------------------------


def test_wellmark_payer_is_detected_from_the_text(wellmark_sample):
    assert wellmark_sample.payer == WELLMARK


def test_wellmark_number_and_title_come_from_the_first_line(wellmark_sample):
    assert (wellmark_sample.number, wellmark_sample.title) == (
        "09.99.01",
        "Cryoablation of Genicular Nerves for Knee Pain",
    )


def test_wellmark_header_dates_are_read_to_the_month(wellmark_sample):
    assert wellmark_sample.original_effective_date == date(2015, 3, 1)
    assert wellmark_sample.revised_date == date(2024, 5, 1)
    assert wellmark_sample.review_date == date(2026, 5, 1)


def test_wellmark_version_is_in_effect_from_the_revised_date_not_the_original(wellmark_sample):
    assert wellmark_sample.effective_start == date(2024, 5, 1)
    assert wellmark_sample.effective_end is None


def test_wellmark_version_label_is_the_revised_month(wellmark_sample):
    assert wellmark_sample.version_label == "2024-05"


def test_wellmark_position_comes_from_the_policy_section(wellmark_sample):
    assert wellmark_sample.coverage_position == "investigational"


def test_wellmark_statement_is_the_policy_section_without_markdown(wellmark_sample):
    assert wellmark_sample.statement == (
        "Cryoablation of genicular nerves for chronic knee pain is considered investigational. "
        "Published trials are too small to show a lasting benefit."
    )


def test_wellmark_codes_table_gives_system_code_and_description(wellmark_sample):
    assert [(s, c) for s, c, _ in wellmark_sample.codes] == [("CPT", "64624"), ("CPT", "0441T"), ("HCPCS", "C9808")]
    assert wellmark_sample.codes[0][2].startswith("Destruction by neurolytic agent, genicular nerve")


def test_wellmark_history_rows_keep_date_action_and_detail(wellmark_sample):
    assert wellmark_sample.history == [
        {"date": "2025-05", "action": "Annual Review", "detail": "Policy Renewed"},
        {"date": "2024-05", "action": "Annual Review", "detail": "Policy Revised – position restated"},
        {"date": "2015-03", "action": "New Policy", "detail": "Policy Created"},
    ]


def test_wellmark_terms_name_the_procedure_and_trademarked_devices(wellmark_sample):
    assert ("cryoablation of genicular nerves", "procedure") in wellmark_sample.terms
    assert ("FrostGuide", "device") in wellmark_sample.terms


def test_lowercase_brand_is_qualified_so_it_does_not_match_ordinary_prose(wellmark_sample):
    # "calm®" in the sample plays the part of "mild®": alone it would match "calm patient".
    names = [term.lower() for term, _ in wellmark_sample.terms]
    assert "calm procedure" in names
    assert "calm" not in names


def test_trademark_notices_do_not_become_terms(wellmark_sample):
    names = {term.lower() for term, _ in wellmark_sample.terms}
    assert not names & {"cpt", "cpt procedure", "cpt device", "association"}


def test_medicare_and_medicaid_sentence_excludes_those_lines_of_business(wellmark_sample):
    assert wellmark_sample.lines_of_business == ["commercial", "exchange", "fep"]


def test_wellmark_without_retrospective_sentence_is_not_retrospective(wellmark_sample):
    assert wellmark_sample.retrospective_review is False


def test_complete_wellmark_document_leaves_nothing_to_fill_in(wellmark_sample):
    assert wellmark_sample.missing_fields == []


def test_missing_number_is_reported_for_the_editor():
    parsed = parse_policy(sample("wellmark-no-number.txt"))
    assert parsed.number == ""
    assert parsed.title == "Cryoablation of Genicular Nerves for Knee Pain"
    assert parsed.missing_fields == [
        "policy number: the document does not state it; copy it from the payer's policy index"
    ]


def test_missing_title_is_reported_for_the_editor():
    parsed = parse_policy(sample("wellmark-no-title.txt"))
    assert parsed.number == "09.99.01"
    assert parsed.missing_fields == [
        "policy title: the document does not state it; copy it from the payer's policy index"
    ]


def test_silence_on_medicare_keeps_every_line_and_asks_the_editor():
    text = sample("wellmark-cryoablation.txt").replace(
        b"Medicare and Medicaid products may provide different coverage for certain services.", b""
    )
    parsed = parse_policy(text)
    assert parsed.lines_of_business == ["commercial", "medicare_advantage", "medicaid", "chip", "exchange", "fep"]
    assert [m.split(":")[0] for m in parsed.missing_fields] == ["lines of business"]


def test_missing_revised_line_leaves_start_unknown_and_says_so():
    text = sample("wellmark-cryoablation.txt").replace(b"Revised: May 2024\n", b"")
    parsed = parse_policy(text)
    assert parsed.effective_start is None
    assert parsed.version_label == ""
    assert any(m.startswith("revised date: the document has no 'Revised:' line") for m in parsed.missing_fields)


def test_unparseable_date_is_reported_not_guessed():
    parsed = parse_policy(sample("wellmark-cryoablation.txt").replace(b"Review Date: May 2026", b"Review Date: soon"))
    assert parsed.review_date is None
    assert "review date: the document's line reads 'soon', which is not a date" in parsed.missing_fields


def test_invalid_code_row_is_left_out_and_reported():
    parsed = parse_policy(sample("wellmark-cryoablation.txt").replace(b"\t64624\t", b"\t6462X\t"))
    assert [c for _, c, _ in parsed.codes] == ["0441T", "C9808"]
    assert any(m.startswith("codes: the CPT row '6462X' is not a valid code") for m in parsed.missing_fields)


def test_not_medically_necessary_is_not_read_as_medically_necessary():
    text = sample("wellmark-cryoablation.txt").replace(
        b"considered **investigational**", b"considered not medically necessary"
    )
    assert parse_policy(text).coverage_position == "not_medically_necessary"


def test_two_positions_in_one_statement_leave_the_position_to_the_editor():
    text = sample("wellmark-cryoablation.txt").replace(
        b"Published trials are too small",
        b"Repeat treatment is considered not medically necessary. Trials are too small",
    )
    parsed = parse_policy(text)
    assert parsed.coverage_position == "undetermined"
    assert any(
        m.startswith("coverage position: the policy statement states more than one") for m in parsed.missing_fields
    )


# --- parsing the BCBS MN format ------------------------------------------------------------------


def test_bcbsmn_payer_is_detected_from_the_text(bcbsmn_sample):
    assert bcbsmn_sample.payer == BCBS_MN


def test_bcbsmn_version_ends_the_day_before_it_was_replaced(bcbsmn_sample):
    assert bcbsmn_sample.effective_end == date(2024, 3, 3)
    assert bcbsmn_sample.effective_start is None


def test_bcbsmn_version_label_names_the_replacement_date(bcbsmn_sample):
    assert bcbsmn_sample.version_label == "replaced-2024-03-04"


def test_bcbsmn_history_records_the_replacement(bcbsmn_sample):
    assert bcbsmn_sample.history == [
        {"date": "2024-03-04", "action": "Replaced", "detail": "This policy version was replaced on 2024-03-04"}
    ]


def test_bcbsmn_position_sentence_gives_position_and_statement(bcbsmn_sample):
    assert bcbsmn_sample.coverage_position == "experimental_investigational"
    assert bcbsmn_sample.statement.startswith("Use of posterior spinal tethering systems, with or without fusion, is")


def test_bcbsmn_device_names_lose_trademark_signs_and_generic_words(bcbsmn_sample):
    devices = [term for term, kind in bcbsmn_sample.terms if kind == "device"]
    assert devices == ["AcmeFlex", "TorsionLock", "Harbor Spinal"]


def test_bcbsmn_procedure_term_comes_from_the_position_sentence(bcbsmn_sample):
    assert ("posterior spinal tethering", "procedure") in bcbsmn_sample.terms


def test_bcbsmn_without_number_or_title_asks_for_both(bcbsmn_sample):
    assert (bcbsmn_sample.number, bcbsmn_sample.title) == ("", "")
    assert [m.split(":")[0] for m in bcbsmn_sample.missing_fields] == ["policy number", "policy title"]


def test_bcbsmn_medicare_and_medicaid_paragraphs_exclude_those_lines(bcbsmn_sample):
    assert bcbsmn_sample.lines_of_business == ["commercial", "exchange", "fep"]


def test_bcbsmn_retrospective_sentence_marks_retrospective_review(bcbsmn_sample):
    assert bcbsmn_sample.retrospective_review is True


def test_bcbsmn_has_no_codes(bcbsmn_sample):
    assert bcbsmn_sample.codes == []


# --- refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the document is empty"),
        (b"  \n\t\n", "the document is empty"),
        (b"%PDF-1.7\x00\x01\x02", "binary"),
        ("Wellmark Revised: März 2024".encode("latin-1"), "not UTF-8"),
        (sample("unknown-format.txt"), "unknown format"),
        (sample("wellmark-no-position.txt"), "no coverage position"),
        (b"07.01.01 Title\nOriginal Effective Date: May 2020\nA Wellmark text without a policy section.", "no POLICY"),
    ],
    ids=["empty", "blank", "binary", "latin-1", "unknown-format", "no-position", "no-policy-section"],
)
def test_unreadable_document_is_refused_with_its_reason(data, reason):
    with pytest.raises(ImportRefused) as refused:
        parse_policy(data)
    assert reason in refused.value.reason


def test_wellmark_header_without_the_payer_name_is_refused():
    with pytest.raises(ImportRefused, match="does not name Wellmark"):
        parse_policy(sample("wellmark-cryoablation.txt").replace(b"Wellmark", b"Some plan"))


# --- the import service ---------------------------------------------------------------------------


def test_import_creates_a_draft_with_the_parsed_content(editor):
    version, created = policy_import(
        path_or_bytes=SAMPLES / "wellmark-cryoablation.txt", filename="wellmark-cryoablation.txt", user=editor
    )
    assert created is True
    assert version.status == "draft"
    assert (version.policy.payer, version.policy.number, version.version_label) == (WELLMARK, "09.99.01", "2024-05")
    assert version.effective_start == date(2024, 5, 1)
    assert version.policy.original_effective_date == date(2015, 3, 1)
    assert version.policy.lines_of_business == ["commercial", "exchange", "fep"]
    assert version.created_by == editor
    assert sorted(version.codes.values_list("system", "code")) == [
        ("CPT", "0441T"),
        ("CPT", "64624"),
        ("HCPCS", "C9808"),
    ]
    assert set(version.terms.values_list("term", flat=True)) == {
        "cryoablation of genicular nerves",
        "calm procedure",
        "FrostGuide",
    }
    assert len(version.history) == 3


def test_import_stores_the_source_file_and_its_sha256(editor, media):
    data = sample("wellmark-cryoablation.txt")
    version, _ = policy_import(path_or_bytes=data, filename="wellmark-cryoablation.txt", user=editor)
    assert version.source_sha256 == hashlib.sha256(data).hexdigest()
    assert version.source_document.name.startswith("policy_sources/wellmark-cryoablation-")
    assert (media / version.source_document.name).read_bytes() == data


def test_import_records_what_the_editor_must_fill_in(editor):
    version, _ = policy_import(path_or_bytes=sample("bcbsmn-spinal-tethering.txt"), filename="t.txt", user=editor)
    assert version.policy.number == ""
    assert version.policy.retrospective_review is True
    assert version.effective_end == date(2024, 3, 3)
    assert [m.split(":")[0] for m in version.missing_fields] == ["policy number", "policy title"]


def test_importing_the_same_document_twice_changes_nothing(editor, media):
    data = sample("bcbsmn-spinal-tethering.txt")
    first, _ = policy_import(path_or_bytes=data, filename="t.txt", user=editor)
    before = counts(), stored_files(media)
    again, created = policy_import(path_or_bytes=data, filename="t.txt", user=editor)
    assert created is False
    assert again.pk == first.pk
    assert (counts(), stored_files(media)) == before


def test_same_document_after_the_editor_filled_the_number_is_still_unchanged(editor):
    data = sample("bcbsmn-spinal-tethering.txt")
    first, _ = policy_import(path_or_bytes=data, filename="t.txt", user=editor)
    Policy.objects.filter(pk=first.policy_id).update(number="X-1", title="Spinal tethering")
    again, created = policy_import(path_or_bytes=data, filename="t.txt", user=editor)
    assert (again.pk, created) == (first.pk, False)


def test_a_new_revision_of_a_numbered_policy_is_a_new_version_of_the_same_policy(editor):
    first, _ = policy_import(path_or_bytes=sample("wellmark-cryoablation.txt"), filename="a.txt", user=editor)
    revised = sample("wellmark-cryoablation.txt").replace(b"Revised: May 2024", b"Revised: May 2025")
    second, created = policy_import(path_or_bytes=revised, filename="b.txt", user=editor)
    assert created is True
    assert second.policy_id == first.policy_id
    assert second.version_label == "2025-05"


def test_different_document_with_an_existing_label_is_refused_and_nothing_written(editor, media):
    policy_import(path_or_bytes=sample("wellmark-cryoablation.txt"), filename="a.txt", user=editor)
    before = counts(), stored_files(media)
    edited = sample("wellmark-cryoablation.txt").replace(b"too small", b"far too small")
    with pytest.raises(ImportRefused, match="already has a version 2024-05"):
        policy_import(path_or_bytes=edited, filename="b.txt", user=editor)
    assert (counts(), stored_files(media)) == before


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00\x01binary", b"\xff\xfe not utf-8", sample("unknown-format.txt"), sample("wellmark-no-position.txt")],
    ids=["empty", "binary", "not-utf8", "unknown-format", "no-position"],
)
def test_refused_document_writes_nothing(editor, media, data):
    with pytest.raises(ImportRefused):
        policy_import(path_or_bytes=data, filename="x.txt", user=editor)
    assert counts() == (0, 0, 0, 0)
    assert stored_files(media) == []


def test_unreadable_path_is_refused(editor, tmp_path):
    with pytest.raises(ImportRefused, match="cannot read"):
        policy_import(path_or_bytes=tmp_path / "absent.txt", filename="absent.txt", user=editor)


def test_import_requires_the_policy_editor_role(nurse):
    with pytest.raises(PermissionDeniedError):
        policy_import(path_or_bytes=sample("wellmark-cryoablation.txt"), filename="a.txt", user=nurse)
    assert counts() == (0, 0, 0, 0)


# Fragments of both formats, so the fuzzer also reaches the parsers and not only the format check.
FRAGMENTS = [
    "07.01.89 Title",
    "Original Effective Date: January 2010",
    "Revised: February 30, 2023",
    "Revised: July 2023",
    "Review Date: 0000-00",
    "Wellmark",
    "POLICY",
    "CODES",
    "POLICY HISTORY",
    "CPT\t\t",
    "HCPCS\t\t",
    "\t62330\tdesc",
    "\t9-1\tdesc",
    "July 2025\tAnnual Review\tRenewed",
    "X is considered **investigational**.",
    "Use of Y® systems is considered EXPERIMENTAL/INVESTIGATIVE.",
    "This Policy version was replaced on January 1, 0001.",
    "This Policy version was replaced on January 27, 2025.",
    "Blue Cross and Blue Shield of Minnesota",
    "Policy Number: " + "9" * 80,
    "Medicare products may provide different coverage.",
    "Other systems include the Foo® System, and the Bar Spinal System.",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=40)), max_size=12))
def test_arbitrary_text_is_parsed_or_refused_and_a_refusal_writes_nothing(editor, media, pieces):
    data = "\n".join(pieces).encode("utf-8", "surrogatepass")
    before = counts(), stored_files(media)
    try:
        parse_policy(data)
    except ImportRefused:
        with pytest.raises(ImportRefused):
            policy_import(path_or_bytes=data, filename="fuzz.txt", user=editor)
        assert (counts(), stored_files(media)) == before


# --- the management command -------------------------------------------------------------------------


def run_command(*args: str) -> tuple[str, int]:
    out = StringIO()
    try:
        call_command("import_policy", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


def test_command_prints_created_then_unchanged(editor):
    path = str(SAMPLES / "wellmark-cryoablation.txt")
    first, first_code = run_command(path)
    again, again_code = run_command(path)
    assert (first_code, again_code) == (0, 0)
    assert first.startswith(f"created   {path}: {WELLMARK} policy 09.99.01 version 2024-05 (draft, id ")
    assert again.startswith(f"unchanged {path}: {WELLMARK} policy 09.99.01 version 2024-05")


def test_command_lists_the_fields_to_fill_in(editor):
    output, _ = run_command(str(SAMPLES / "bcbsmn-spinal-tethering.txt"))
    assert output.rstrip().endswith("editor must fill in: policy number; policy title")


def test_command_reports_a_refusal_and_exits_non_zero(editor):
    good, bad = str(SAMPLES / "wellmark-cryoablation.txt"), str(SAMPLES / "unknown-format.txt")
    output, code = run_command(good, bad)
    lines = output.splitlines()
    assert code == 1
    assert len(lines) == 2
    assert lines[0].startswith("created ")
    assert lines[1].startswith(f"refused   {bad}: unknown format")
    assert PolicyVersion.objects.count() == 1


def test_command_imports_as_the_named_user(editor):
    other = factories.user("second.editor", Role.POLICY_EDITOR)
    run_command(str(SAMPLES / "wellmark-cryoablation.txt"), "--as", "second.editor")
    assert PolicyVersion.objects.get().created_by == other


def test_command_defaults_to_the_first_active_policy_editor(editor):
    run_command(str(SAMPLES / "wellmark-cryoablation.txt"))
    assert PolicyVersion.objects.get().created_by == editor


def test_command_without_any_policy_editor_refuses_clearly(nurse):
    with pytest.raises(CommandError, match="no active user is in the policy_editor group"):
        call_command("import_policy", str(SAMPLES / "wellmark-cryoablation.txt"), stdout=StringIO())


def test_command_as_a_user_without_the_role_refuses(nurse):
    with pytest.raises(CommandError, match="Only a policy editor may import"):
        call_command(
            "import_policy", str(SAMPLES / "wellmark-cryoablation.txt"), "--as", nurse.username, stdout=StringIO()
        )
    assert PolicyVersion.objects.count() == 0


# --- the payers' own documents ------------------------------------------------------------------------


@needs_shared
def test_real_wellmark_identity_and_dates():
    parsed = parse_policy(WELLMARK_REAL.read_bytes())
    assert parsed.payer == WELLMARK
    assert parsed.number == "07.01.89"
    assert parsed.title == "Image-Guided Minimally Invasive Decompression for Spinal Stenosis"
    assert parsed.original_effective_date == date(2010, 1, 1)
    assert parsed.revised_date == parsed.effective_start == date(2023, 7, 1)
    assert parsed.review_date == date(2025, 7, 1)
    assert parsed.version_label == "2023-07"


@needs_shared
def test_real_wellmark_position_codes_and_history():
    parsed = parse_policy(WELLMARK_REAL.read_bytes())
    assert parsed.coverage_position == "investigational"
    assert [(s, c) for s, c, _ in parsed.codes] == [
        ("CPT", "0274T"),
        ("CPT", "62330"),
        ("CPT", "62331"),
        ("HCPCS", "G0276"),
    ]
    assert len(parsed.history) == 18


@needs_shared
def test_real_wellmark_terms_avoid_the_bare_word_mild():
    names = {term.lower() for term, _ in parse_policy(WELLMARK_REAL.read_bytes()).terms}
    assert "mild procedure" in names
    assert "mild" not in names


@needs_shared
def test_real_bcbsmn_reports_missing_number_and_title():
    parsed = parse_policy(BCBSMN_REAL.read_bytes())
    assert parsed.payer == BCBS_MN
    assert (parsed.number, parsed.title) == ("", "")
    assert [m.split(":")[0] for m in parsed.missing_fields] == ["policy number", "policy title"]


@needs_shared
def test_real_bcbsmn_dates_and_position():
    parsed = parse_policy(BCBSMN_REAL.read_bytes())
    assert parsed.effective_end == date(2025, 1, 26)
    assert parsed.version_label == "replaced-2025-01-27"
    assert parsed.coverage_position == "experimental_investigational"
    assert parsed.lines_of_business == ["commercial", "exchange", "fep"]
    assert parsed.retrospective_review is True


@needs_shared
def test_real_bcbsmn_names_the_ten_devices():
    devices = [term for term, kind in parse_policy(BCBSMN_REAL.read_bytes()).terms if kind == "device"]
    expected = [
        "Dynesys",
        "BioFlex",
        "CD HorizoN AGILE",
        "DSS",
        "Dynabolt",
        "Isobar",
        "Satellite",
        "NFix II",
        "Stabilimax NZ",
        "Zodiak DynaMo",
    ]
    assert len(devices) == 10
    for name in expected:
        assert any(device == name or device.startswith(name + " ") for device in devices), name


def publish_import(version: PolicyVersion, editor, **policy_fields) -> PolicyVersion:
    """What an editor does with an imported draft: fill the gaps, clear the notes, publish."""
    Policy.objects.filter(pk=version.policy_id).update(**policy_fields)
    PolicyVersion.objects.filter(pk=version.pk).update(missing_fields=[])
    factories.submit(version)
    return policy_version_publish(version_id=version.pk, user=editor)


@needs_shared
def test_published_wellmark_import_flags_commercial_62330_as_investigational(editor, integration_client):
    version, _ = policy_import(path_or_bytes=WELLMARK_REAL, filename=WELLMARK_REAL.name, user=editor)
    # The Wellmark text does not mention Medicare or Medicaid, so the editor decides the lines.
    published = publish_import(version, editor, lines_of_business=["commercial", "exchange"])
    case = factories.case(integration_client, line_of_business="commercial")
    flag = Flag.objects.get(case=case, superseded_at__isnull=True)
    assert flag.kind == "investigational"
    assert flag.policy_version == published
    assert flag.citation["policy_number"] == "07.01.89"


@needs_shared
def test_published_bcbsmn_import_flags_dynesys_before_its_replacement(editor, integration_client):
    version, _ = policy_import(path_or_bytes=BCBSMN_REAL, filename=BCBSMN_REAL.name, user=editor)
    publish_import(version, editor, number="BCBSMN-DSS", title="Dynamic Spine Stabilization")
    before = date(2025, 1, 27) - timedelta(days=10)
    line = LineInput(code_system="CPT", code="22840", units=1, date_of_service=before)
    case = factories.case(
        integration_client, service_lines=(line,), clinical_notes="Plan: Dynesys® stabilization L4-5."
    )
    kinds = set(Flag.objects.filter(case=case, superseded_at__isnull=True).values_list("kind", flat=True))
    assert "investigational" in kinds


@needs_shared
def test_published_bcbsmn_import_has_no_version_in_effect_after_its_replacement(editor, integration_client):

    version, _ = policy_import(path_or_bytes=BCBSMN_REAL, filename=BCBSMN_REAL.name, user=editor)
    publish_import(version, editor, number="BCBSMN-DSS", title="Dynamic Spine Stabilization")
    line = LineInput(code_system="CPT", code="22840", units=1, date_of_service=date(2026, 3, 2))
    case = factories.case(integration_client, service_lines=(line,), clinical_notes="Plan: Dynesys stabilization L4-5.")
    kinds = set(Flag.objects.filter(case=case, superseded_at__isnull=True).values_list("kind", flat=True))
    assert "no_version_in_effect" in kinds
    assert "investigational" not in kinds


# --- the PRIOR APPROVAL statement suggests requirement rules --------------------------------------


@needs_shared
def test_real_wellmark_prior_approval_statement_is_read():
    assert parse_policy(WELLMARK_REAL.read_bytes()).prior_approval == "Not applicable."


def test_document_without_prior_approval_section_has_no_statement(wellmark_sample):
    assert wellmark_sample.prior_approval == ""


@needs_shared
def test_import_suggests_a_draft_rule_for_each_procedure_code(editor):
    version, _ = policy_import(path_or_bytes=WELLMARK_REAL.read_bytes(), filename="w.txt", user=editor)
    rules = list(RequirementRule.objects.filter(suggested_from=version).order_by("code_system", "code_start"))
    assert [(r.code_system, r.code_start, r.requirement, r.status) for r in rules] == [
        ("CPT", "0274T", "not_required", "draft"),
        ("CPT", "62330", "not_required", "draft"),
        ("CPT", "62331", "not_required", "draft"),
        ("HCPCS", "G0276", "not_required", "draft"),
    ]
    assert {r.source_text for r in rules} == {"PRIOR APPROVAL: Not applicable."}
    assert {r.policy_id for r in rules} == {version.policy_id}


@needs_shared
def test_suggestion_for_a_code_with_a_published_rule_is_its_next_version(editor):
    current = factories.requirement_rule(editor, requirement="required", effective_start=date(2020, 1, 1))
    version, _ = policy_import(path_or_bytes=WELLMARK_REAL.read_bytes(), filename="w.txt", user=editor)
    suggestion = RequirementRule.objects.get(suggested_from=version, code_start="62330")
    assert (suggestion.supersedes_id, suggestion.version) == (current.pk, 2)


def test_import_without_prior_approval_suggests_nothing(editor):
    policy_import(path_or_bytes=sample("wellmark-cryoablation.txt"), filename="t.txt", user=editor)
    assert not RequirementRule.objects.exists()


def test_a_policy_that_may_not_apply_to_fep_leaves_the_federal_employee_program_out():
    text = sample("wellmark-cryoablation.txt").replace(
        b"Medicare and Medicaid products may provide different coverage for certain services.",
        b"Medicare and Medicaid products may provide different coverage for certain services. "
        b"This medical policy may not apply to FEP.",
    )
    assert parse_policy(text).lines_of_business == ["commercial", "exchange"]
