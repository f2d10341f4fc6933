"""The official Segment Python SDK (segment-analytics-python), unchanged but for its
`host`, sending to `abm collect`: its batches (plain and gzip) land on the topic, one
record per call keyed by person, with no email address in any key or value."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from segment.analytics.client import Client

from streams.logic.identity.redact import contact_of
from tests.e2e.collect_tools import IDENTITY_KEY, SERVER_KEY, Collector, running, start_collector
from tests.harness import wait_until

EMAIL = "Dana.Scully@fbi-example.com"


@pytest.fixture(scope="module")
def collector(stack) -> Iterator[Collector]:
    yield from running(start_collector(stack, "collect-sdk"))


@pytest.mark.parametrize("gzip", [False, True])
def test_the_python_sdk_s_calls_arrive_keyed_by_person_without_addresses(collector, gzip):
    errors: list[str] = []
    client = Client(
        SERVER_KEY,
        host=collector.url,
        gzip=gzip,
        on_error=lambda error, batch: errors.append(f"{error}: {len(batch)} calls"),
        max_retries=2,
    )
    tag = "gz" if gzip else "plain"
    user = f"u-sdk-{tag}"
    history = datetime.now(UTC) - timedelta(days=3)
    client.identify(user, {"email": EMAIL, "name": "Dana"}, anonymous_id=f"anon-{tag}")
    client.page(user, category="Docs", name="Pricing", properties={"url": "https://x.io/p"})
    client.track(user, "Form Submitted", {"form": "demo", "email": EMAIL}, timestamp=history)
    client.group(user, "acme-co", {"name": "Acme", "website": "https://acme.com"})
    client.identify(EMAIL, {"plan": "trial", "run": tag})
    client.flush()
    client.shutdown()
    assert errors == []

    def arrived() -> list[tuple[bytes, dict]] | None:
        found = [
            (key, value)
            for key, value in collector.records(0.5)
            if value.get("userId") == user or value.get("traits", {}).get("run") == tag
        ]
        return found if len(found) == 5 else None

    mine = wait_until(arrived, 30, f"the SDK's five calls ({tag})")
    kinds = sorted(value["type"] for key, value in mine if key == user.encode())
    assert kinds == ["group", "identify", "page", "track"]
    identify = next(v for k, v in mine if k == user.encode() and v["type"] == "identify")
    contact = contact_of(EMAIL, IDENTITY_KEY.encode())
    assert identify["traits"]["email_contact"] == contact
    assert identify["traits"]["email_domain"] == "fbi-example.com"
    assert identify["context"]["library"]["name"] == "analytics-python"
    track = next(v for k, v in mine if v["type"] == "track")
    sent = datetime.fromisoformat(track["timestamp"])
    assert abs(sent - history) < timedelta(seconds=5)  # history keeps its time
    assert track["originalTimestamp"]
    assert any(k == contact.encode() for k, _ in mine)  # the address as user id, hashed
    assert collector.addresses_written() == []
    assert "@" not in "".join(k.decode() + str(v) for k, v in collector.records())
