import pytest
from rest_framework.test import APIClient
from tests.casemgmt.test_api import client_for

pytestmark = pytest.mark.django_db

@pytest.mark.parametrize("url", ["https://example.com:99999/", "https://[::1/", "https://exa\x00mple.com/", "https://a..b/", "https://" + "a"*70 + ".com/", "https://1.2.3.4:0/"])
def test_probe(integration_client, url):
    r = client_for(integration_client).post("/api/v1/webhooks", {"url": url}, format="json")
    print(url, r.status_code, r.content[:200])
    assert r.status_code < 500
