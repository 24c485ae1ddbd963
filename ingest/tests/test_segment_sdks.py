"""The real clients: Segment's `segment-analytics-python` and RudderStack's
`rudder-sdk-python`, unchanged but for the host, against a live server. What they send
must appear through our own API: profiles, identifiers, attributes and events.

Every client is shut down (flushed, its consumer thread joined) before the test
asserts, and retries and timeouts are small, so a failure cannot hang the suite."""

from __future__ import annotations

import uuid

import pytest
import requests
from django.db import connections
from rudderstack.analytics import Client as RudderClient
from rudderstack.analytics import request as rudder_request
from segment.analytics import Client as SegmentClient
from segment.analytics import request as segment_request
from segment.analytics.request import APIError

from ingest.tests.segment_helpers import segment_tenant_setup
from tenants.services import api_key_create

pytestmark = pytest.mark.django_db(transaction=True)

SDK_OPTIONS = {"max_retries": 0, "timeout": 10, "upload_interval": 0.05}


class Api:
    """Our own admin API, over real HTTP."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {key}"

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(self.url + path, params=params, timeout=10)

    def profile(self, type_: str, value: str) -> dict:
        response = self.get("/api/v1/profiles", identifierType=type_, identifierValue=value)
        assert response.status_code == 200, response.text
        return response.json()

    def events(self, profile_id: str) -> list[dict]:
        response = self.get(f"/api/v1/profiles/{profile_id}/events")
        assert response.status_code == 200, response.text
        return response.json()["results"]


@pytest.fixture(autouse=True)
def _server_closes_database_connections(monkeypatch):
    """A live-server thread serves one keep-alive socket; with persistent connections it
    would hold its database connection past the test. CONN_MAX_AGE=0 closes it after
    every request (the settings dict is the one each thread's connection is made from).
    SQLite's in-memory test database is one connection shared with the test: left alone."""
    if connections["default"].vendor == "postgresql":
        monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)


@pytest.fixture
def setup(tenant, live_server):
    write_key = segment_tenant_setup(tenant)
    api = Api(live_server.url, api_key_create(tenant=tenant, scopes=["admin"]).plaintext)
    yield write_key, api
    api.session.close()


@pytest.fixture
def errors():
    return []


@pytest.fixture
def clients():
    """Every SDK client a test makes is shut down at the end, even when the test fails."""
    made: list = []
    yield made
    for client in made:
        if not client.sync_mode:  # a sync-mode client has no consumer thread to stop
            client.shutdown()
    # The SDKs keep one module-level HTTP session each, with keep-alive connections.
    segment_request._session.close()
    rudder_request._session.close()


@pytest.fixture
def segment(setup, live_server, errors, clients):
    def make(**options):
        client = SegmentClient(
            setup[0],
            host=live_server.url,
            on_error=lambda error, batch: errors.append(error),
            max_total_backoff_duration=1,
            max_rate_limit_duration=1,
            **{**SDK_OPTIONS, **options},
        )
        clients.append(client)
        return client

    return make


@pytest.fixture
def rudder(setup, live_server, errors, clients):
    def make(**options):
        client = RudderClient(
            setup[0],
            host=live_server.url,
            on_error=lambda error, batch: errors.append(error),
            **{**SDK_OPTIONS, **options},
        )
        clients.append(client)
        return client

    return make


def _identify_track_alias(client) -> None:
    client.track(
        anonymous_id="anon-1",
        event="Order Completed",
        properties={"orderId": "10001", "total": 99.5},
    )
    client.identify("cust-42", {"email": "Ann@Example.com", "firstName": "Ann", "plan": "pro"})
    client.alias(previous_id="anon-1", user_id="cust-42")
    client.shutdown()


def _assert_one_customer(api: Api) -> None:
    profile = api.profile("EXTERNAL", "cust-42")
    assert profile["attributes"] == {"firstName": "Ann"}
    assert {i["type"]: i["value"] for i in profile["identifiers"]} == {
        "EXTERNAL": "cust-42",
        "EMAIL": "ann@example.com",
        "DEVICE_KEY": "anon-1",
    }
    (event,) = api.events(profile["id"])
    assert (event["eventType"], event["source"]) == ("order_completed", "web")
    assert event["properties"] == {"orderId": "10001", "total": 99.5}
    assert api.profile("DEVICE_KEY", "anon-1")["id"] == profile["id"]


def test_segment_sdk_identify_track_and_alias_appear_through_our_api(setup, segment, errors):
    _identify_track_alias(segment())
    assert errors == []
    _assert_one_customer(setup[1])


def test_segment_sdk_gzip_track(setup, segment, errors):
    client = segment(gzip=True)
    client.track("cust-7", "Order Completed", {"orderId": "7", "total": 7})
    client.shutdown()
    assert errors == []
    api = setup[1]
    (event,) = api.events(api.profile("EXTERNAL", "cust-7")["id"])
    assert event["properties"] == {"orderId": "7", "total": 7}


def test_segment_sdk_batches_many_messages_in_one_request(setup, segment, errors):
    client = segment(upload_size=100, upload_interval=0.5)
    for n in range(30):
        client.track(f"cust-{n % 3}", "Order Completed", {"orderId": str(n), "total": n})
    client.page("cust-0", name="Pricing", properties={"path": "/pricing"})
    client.shutdown()
    assert errors == []
    api = setup[1]
    counts = {n: len(api.events(api.profile("EXTERNAL", f"cust-{n}")["id"])) for n in range(3)}
    assert counts == {0: 11, 1: 10, 2: 10}


def test_segment_sdk_the_same_message_id_three_times_is_one_event(setup, segment, errors):
    client = segment(sync_mode=True)
    message_id = str(uuid.uuid4())
    for _ in range(3):
        client.track("cust-3", "Order Completed", {"orderId": "3", "total": 3}, message_id=message_id)
    assert errors == []
    api = setup[1]
    (event,) = api.events(api.profile("EXTERNAL", "cust-3")["id"])
    assert event["externalEventId"] == message_id


def test_segment_sdk_gets_401_for_a_bad_write_key_and_does_not_retry(setup, live_server, clients):
    client = SegmentClient("rfk_abcdefgh_wrong", host=live_server.url, sync_mode=True, **SDK_OPTIONS)
    clients.append(client)
    with pytest.raises(APIError) as raised:
        client.track("cust-1", "Order Completed", {"orderId": "1", "total": 1})
    assert raised.value.status == 401


def test_rudder_sdk_identify_track_and_alias_appear_through_our_api(setup, rudder, errors):
    _identify_track_alias(rudder())  # the RudderStack SDK gzips by default
    assert errors == []
    _assert_one_customer(setup[1])


def test_rudder_sdk_batch_and_the_same_message_id_three_times(setup, rudder, errors):
    client = rudder(upload_size=50, upload_interval=0.5)
    message_id = str(uuid.uuid4())
    for _ in range(3):
        client.track("cust-5", "Order Completed", {"orderId": "5", "total": 5}, message_id=message_id)
    client.screen("cust-5", name="Basket")
    client.group("cust-5", "acme-inc", {"plan": "enterprise"})
    client.shutdown()
    assert errors == []
    api = setup[1]
    events = api.events(api.profile("EXTERNAL", "cust-5")["id"])
    assert sorted(e["eventType"] for e in events) == ["group_joined", "order_completed", "screen_viewed"]
