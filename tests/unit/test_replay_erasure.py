"""A replay does not bring back whom `abm forget` erased: the erasure requests beside the
history apply to the records made before them, so no output, tier or KPI names an erased
account or person, and what was not erased decides as before."""

import json
import os
import time

import pytest
from click.testing import CliRunner

from streams.cli import cli
from streams.clients.erasure import erasure_request
from streams.logic.inputs.decode import Coords
from streams.logic.inputs.records import AccountInput, RosterInput
from streams.logic.state.erasure import MissingKey
from streams.replay.erasures import FILE, ErasurePlan
from tests.factories import engagement, roster
from tests.history import generate, write_jsonl

KEY = "an-erasure-key-of-at-least-32-bytes"
END = 1_767_225_600_000


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    directory = tmp_path_factory.mktemp("history")
    return write_jsonl(directory, generate(3, accounts=40, days=45, end=END))


def replay(directory, *args: str) -> dict:
    result = CliRunner().invoke(
        cli,
        ["replay", "--input-dir", str(directory), "--json", *args],
        env={"ABM_CONFIG_FILE": None, "ABM_ERASURE_KEY": KEY},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def engaged(directory) -> tuple[str, str]:
    """An account of the history whose alerts name a contact, and that contact."""
    for alert in replay(directory)["alerts"]:
        if alert["contacts"]:
            return alert["account_id"], alert["contacts"][0]
    raise AssertionError("no alert names a contact")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_replay_applies_the_erasures_made_after_its_history(history, tmp_path, workers):
    before = replay(history, "--workers", workers)
    person_of, person = engaged(history)
    whole = next(a for a in before["tiers"] if a != person_of)
    for path in history.iterdir():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    requests = [
        erasure_request(whole, None, KEY.encode()),
        erasure_request(person_of, person, KEY.encode()),
    ]
    (tmp_path / FILE).write_bytes(b"".join(r.model_dump_json().encode() + b"\n" for r in requests))
    past = time.time() - 3600  # the history's files were written before the requests
    for path in tmp_path.glob("*.jsonl"):
        if path.name != FILE:
            os.utime(path, (past, past))
    after = replay(tmp_path, "--workers", workers)
    text = json.dumps(after)
    assert whole not in text  # no tier, output or stage of the account erased whole
    assert person not in text  # nor the person, in any alert
    assert after["rejected"]["erased"] > 0
    others = {a: t for a, t in before["tiers"].items() if a not in (whole, person_of)}
    assert {a: t for a, t in after["tiers"].items() if a in others} == others
    still = [a for a in after["alerts"] if a["account_id"] == person_of]
    assert len(still) == len([a for a in before["alerts"] if a["account_id"] == person_of])


def coords(made: int) -> Coords:
    return Coords("abm.engagement.v1", 0, 0, made)


def test_only_records_made_before_a_request_are_changed():
    request = erasure_request("acme", "p-secret", KEY.encode())
    at = int(request.requested_at.timestamp() * 1000)
    plan = ErasurePlan([request, erasure_request("gone", None, None)], KEY.encode())
    view = engagement(contact="p-secret", at=at - 10_000)
    record = AccountInput("acme", view)
    earlier = plan.applied("acme", at - 1, record)
    assert isinstance(earlier, AccountInput)
    assert earlier.event.contact_id is None
    assert plan.applied("acme", at + 1, record) is record  # engaged again: known again
    people = roster(contacts=[("p-secret", None, None), ("p-kept", None, None)], at=at)
    trimmed = plan.applied("acme", at - 1, RosterInput("acme", people))
    assert isinstance(trimmed, RosterInput)
    assert [c.contact_id for c in trimmed.roster.contacts] == ["p-kept"]
    assert plan.applied("gone", 0, record) is None
    assert plan.applied("gone", 2**62, record) is record
    with pytest.raises(MissingKey):
        ErasurePlan([request], None)
