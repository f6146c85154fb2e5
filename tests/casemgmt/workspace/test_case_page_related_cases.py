"""The case page names the other cases of the same request: an appealed case its appeals, and
every line the authorizations issued for its service, whichever of the request's cases issued
them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from casemgmt.cases.models import Authorization, LineOutcome
from casemgmt.kernel.roles import Role
from policies_app.models import PolicyVersion
from tests import factories
from tests.casemgmt.cases.test_appeals import decide_appeal, decided_case, every_line_of_business_policy, file_appeal
from tests.casemgmt.workspace.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(editor: User) -> PolicyVersion:
    return every_line_of_business_policy(editor)


def authorization_rows(page: str) -> list[str]:
    """The rows of the page's authorization tables, as text."""
    return [re.sub(r"<[^>]+>", " ", row) for row in re.findall(r"<tr><td>.*?</tr>", page, re.S)]


def test_an_appealed_case_lists_its_appeals_oldest_first_with_their_status(
    integration_client, physician, nurse, version
):
    case, _ = decided_case(integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.DENIED))
    first = file_appeal(case, integration_client, lines=[1])
    second = file_appeal(case, integration_client, lines=[2])
    page = signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode()
    listed = re.search(r'<p class="case-link appeals">(.*?)</p>', page, re.S)
    assert listed is not None
    text = re.sub(r"<[^>]+>", "", listed.group(1))
    assert text.index(first.case_number) < text.index(second.case_number)
    assert f"{first.case_number} ({first.get_status_display().lower()})" in text


def test_an_appeal_lists_no_appeals_of_its_own(integration_client, physician, nurse, version):
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    page = signed_in(nurse).get(f"/cases/{appeal.case_number}/").content.decode()
    assert 'class="case-link appeals"' not in page


def test_both_cases_show_the_authorization_an_overturned_appeal_issued(integration_client, physician, nurse, version):
    case, _ = decided_case(integration_client, physician, version)
    appeal = file_appeal(case, integration_client)
    decide_appeal(appeal, factories.user("pat.second", Role.PHYSICIAN), version, LineOutcome.OVERTURNED)
    authorization = Authorization.objects.get(case=appeal)
    on_appeal = authorization_rows(signed_in(nurse).get(f"/cases/{appeal.case_number}/").content.decode())
    on_case = authorization_rows(signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode())
    assert next(row for row in on_appeal if authorization.authorization_number in row).count("this case") == 1
    assert any(authorization.authorization_number in row and appeal.case_number in row for row in on_case)


def test_an_appealed_case_still_shows_the_authorization_it_issued(integration_client, physician, nurse, version):
    case, decision = decided_case(
        integration_client, physician, version, outcomes=(LineOutcome.DENIED, LineOutcome.APPROVED)
    )
    issued = Authorization.objects.get(decision=decision)
    file_appeal(case, integration_client, lines=[1])
    rows = authorization_rows(signed_in(nurse).get(f"/cases/{case.case_number}/").content.decode())
    assert next(row for row in rows if issued.authorization_number in row).count("this case") == 1
