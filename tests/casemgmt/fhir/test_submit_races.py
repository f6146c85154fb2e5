"""The same PAS bundle sent twice at the same instant (an EHR's retry racing its first try)
makes one case, and both tries get its answer. PostgreSQL only: SQLite serializes writers."""

from __future__ import annotations

import pytest

from casemgmt.cases.models import Case
from casemgmt.fhir.models import FhirSubmission
from tests.casemgmt.cases.test_concurrency import ROUNDS, at_once
from tests.casemgmt.fhir.conftest import api_for
from tests.casemgmt.fhir.pas_bundles import pas_request
from tests.casemgmt.fhir.test_submit import SUBMIT
from tests.services_fixtures import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    require_postgresql(" (SQLite serializes writers)")


def test_the_same_bundle_twice_at_once_makes_one_case_and_both_are_answered(ehr):
    apis = [api_for(ehr), api_for(ehr)]
    for _ in range(ROUNDS):
        bundle = pas_request("62330")
        responses = at_once(*(lambda api=api: api.post(SUBMIT, bundle, format="json") for api in apis))
        assert sorted(r.status_code for r in responses) == [200, 201], [r.content[:300] for r in responses]
        numbers = {r.json()["entry"][0]["resource"]["identifier"][-1]["value"] for r in responses}
        assert len(numbers) == 1
    assert Case.objects.count() == FhirSubmission.objects.count() == ROUNDS
