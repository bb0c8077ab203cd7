"""The audit log's client address is the one the gateway resolves with its
trusted proxies (gateway/client.py, TRUSTED_PROXIES), the same one the login
throttles count under: an X-Forwarded-For is believed from a trusted proxy
only, never from a client that writes its own."""
import http.client
import json
import uuid
from urllib.parse import urlsplit

from tests.e2e.conftest import unique
from tests.support.suite import TEST_PROXY
from tests.support.waiting import wait_for

UNTRUSTED = "127.0.0.1"  # the suite trusts 127.0.0.2 (TEST_PROXY) only


def patch_org_from(suite, source: str, forwarded_for: str, token: str, org_id: str) -> str:
    """PATCH /v1/orgs/{org_id} over a connection from `source` with this X-Forwarded-For; its request id."""
    url = urlsplit(suite.base_url)
    request_id = f"xff-{uuid.uuid4().hex}"
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    try:
        connection.request("PATCH", f"/v1/orgs/{org_id}", body=json.dumps({"name": unique("Org")}),
                           headers={"Content-Type": "application/json", "X-Forwarded-For": forwarded_for,
                                    "Authorization": f"Bearer {token}", "X-Request-Id": request_id})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        return request_id
    finally:
        connection.close()


def test_audit_client_address_believes_x_forwarded_for_from_trusted_proxies_only(suite, make_org):
    org_id, admin, _ = make_org()
    behind_proxy = patch_org_from(suite, TEST_PROXY, "198.51.100.9, 203.0.113.7", admin.token, org_id)
    spoofed = patch_org_from(suite, UNTRUSTED, "203.0.113.8", admin.token, org_id)

    def entries():
        items = admin.get(f"/v1/orgs/{org_id}/audit", params={"action": "org.settings_changed"}).json()["items"]
        found = {e["request_id"]: e for e in items}
        return found if {behind_proxy, spoofed} <= set(found) else None

    found = wait_for(entries, timeout=30)
    # the trusted proxy appended the address it got the request from: that is the client
    assert found[behind_proxy]["client_address"] == "203.0.113.7"
    # a client's own X-Forwarded-For changes nothing: its connecting address is recorded
    assert found[spoofed]["client_address"] == UNTRUSTED
