"""The Content Security Policy: the header on every page, and templates that keep to it.

The policy (CONTENT_SECURITY_POLICY in settings) allows scripts and styles only from our own
files, so a template with an inline <script>, an on*= handler, a style= attribute or a <style>
block would break under it. The scan below fails on any of them in templates/; the browser test
(tests/browser/test_csp.py) loads the pages and fails on any violation the browser reports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from casemgmt.cases.services.attachments import attachment_add
from tests import factories

TEMPLATES = Path(__file__).resolve().parents[3] / "templates"
DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"

# Template comments are not sent to the browser: the scan ignores them.
_COMMENT = re.compile(r"\{#.*?#\}|\{% comment %\}.*?\{% endcomment %\}", re.S)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_HANDLER = re.compile(r"<[a-z][^>]*?\son[a-z]+\s*=", re.S | re.I)
_STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*?\sstyle\s*=", re.S | re.I)
_STYLE_BLOCK = re.compile(r"<style\b", re.I)
_JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.I)
# htmx attributes whose values are code htmx would eval (base.html turns eval off).
_HTMX_CODE = re.compile(r"""\shx-on[:\-=]|\shx-vars\s*=|\shx-vals\s*=\s*["']\s*js:""", re.I)


def parse(header: str) -> dict[str, str]:
    policy = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition(" ")
        if name:
            policy[name] = value.strip()
    return policy


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs/", "/healthz"])
def test_the_header_carries_every_directive(path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 200
    policy = parse(response["Content-Security-Policy"])
    for directive, value in DIRECTIVES.items():
        assert policy.get(directive) == value, (directive, policy)
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_signed_in_pages_carry_it_too(nurse: User) -> None:
    browser = Client()
    browser.force_login(nurse)
    assert parse(browser.get("/queue/")["Content-Security-Policy"]) == DIRECTIVES


@pytest.mark.django_db
def test_a_refusal_carries_it(outsider: User) -> None:
    browser = Client()
    browser.force_login(outsider)
    response = browser.get("/queue/")
    assert response.status_code == 403
    assert parse(response["Content-Security-Policy"]) == DIRECTIVES


@pytest.mark.django_db
def test_csp_report_uri_is_added_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    import runpy

    monkeypatch.setenv("SECRET_KEY", "k" * 50)
    monkeypatch.setenv("CSP_REPORT_URI", "https://csp.example.org/report")
    loaded = runpy.run_path(str(Path(__file__).resolve().parents[3] / "casemgmt" / "settings.py"))
    assert loaded["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["report-uri"] == ["https://csp.example.org/report"]


@pytest.mark.django_db
def test_a_pdf_attachment_may_be_framed_by_the_case_page_only(
    nurse: User, integration_client: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    case = factories.case(integration_client)
    upload = SimpleUploadedFile("mri.pdf", PDF, content_type="application/pdf")
    attachment = attachment_add(case_id=case.pk, user=integration_client, upload=upload)
    browser = Client()
    browser.force_login(nurse)
    response = browser.get(f"/cases/{case.case_number}/attachments/{attachment.pk}/view")
    assert response.status_code == 200
    policy = parse(response["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert response["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.django_db
def test_an_image_attachment_keeps_its_own_sandboxing_policy(
    nurse: User, integration_client: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path
    case = factories.case(integration_client)
    upload = SimpleUploadedFile("scan.png", PNG, content_type="image/png")
    attachment = attachment_add(case_id=case.pk, user=integration_client, upload=upload)
    browser = Client()
    browser.force_login(nurse)
    response = browser.get(f"/cases/{case.case_number}/attachments/{attachment.pk}/view")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


@pytest.mark.django_db
def test_the_api_docs_load_their_start_up_script_from_a_url() -> None:
    page = Client().get("/api/docs/")
    html = page.content.decode()
    assert not [body for _, body in _SCRIPT.findall(html) if body.strip()], "an inline script on /api/docs/"
    assert "<style" not in html
    script = Client().get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


def _templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*.html"))


def test_there_are_templates_to_scan() -> None:
    assert len(_templates()) > 10


@pytest.mark.parametrize("template", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_has_inline_script_or_style(template: Path) -> None:
    text = _COMMENT.sub("", template.read_text())
    problems = []
    for attributes, body in _SCRIPT.findall(text):
        if body.strip():
            problems.append(f"inline <script> with code: {body.strip()[:60]!r}")
        elif "src=" not in attributes:
            problems.append(f"<script{attributes}> without src")
    problems += [f"event handler attribute: {m.group(0)[-40:]!r}" for m in _HANDLER.finditer(text)]
    problems += [f"style= attribute: {m.group(0)[-40:]!r}" for m in _STYLE_ATTRIBUTE.finditer(text)]
    problems += ["<style> block" for _ in _STYLE_BLOCK.finditer(text)]
    problems += [f"javascript: URL: {m.group(0)!r}" for m in _JS_URL.finditer(text)]
    problems += [f"htmx attribute with code: {m.group(0)!r}" for m in _HTMX_CODE.finditer(text)]
    assert not problems, f"{template.relative_to(TEMPLATES)} breaks the Content Security Policy: {problems}"


_PY_STYLE = re.compile(r"""["']style["']\s*:|<[a-z][^>"']*\sstyle\s*=|<[a-z][^>"']*\son[a-z]+\s*=|<script>""", re.I)


def test_no_python_code_writes_inline_style_or_script() -> None:
    """Widgets (attrs={"style": ...}) and format_html() snippets are HTML too."""
    root = TEMPLATES.parent
    problems = []
    for package in ("casemgmt", "policies_app"):
        for source in (root / package).rglob("*.py"):
            if "migrations" in source.parts:
                continue
            for number, line in enumerate(source.read_text().splitlines(), 1):
                if _PY_STYLE.search(line):
                    problems.append(f"{source.relative_to(root)}:{number}: {line.strip()[:80]}")
    assert not problems, f"inline style or script written from Python: {problems}"


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        '<button onclick="go()">',
        '<div class="x" style="color: red">',
        "<style>p { color: red }</style>",
        '<a href="javascript:void(0)">',
        '<button hx-on:click="go()">',
    ],
)
def test_the_scan_catches_what_it_looks_for(snippet: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(f"<p>{snippet}</p>")
    monkeypatch.setattr("tests.casemgmt.security.test_csp.TEMPLATES", tmp_path)
    with pytest.raises(AssertionError, match="breaks the Content Security Policy"):
        test_no_template_has_inline_script_or_style(bad)


def test_the_scan_allows_external_scripts_and_data_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tmp_path / "good.html"
    good.write_text('<script src="/static/js/queue.js" defer></script><div data-style="x" data-onload="y">')
    monkeypatch.setattr("tests.casemgmt.security.test_csp.TEMPLATES", tmp_path)
    test_no_template_has_inline_script_or_style(good)
