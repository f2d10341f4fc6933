"""Account matching in the stream: Segment calls in, engagement of known accounts out.

Three agents, each keyed by what it looks up, because a faust table can only be read
and written on the partition of the record being processed:

1. `segment` reads the raw calls (abm.segment.v1), redacts them and sends each on to
   abm.people.v1, keyed by the person's id with our own partitioner (a raw topic's
   producer may hash keys differently: RudderStack's and ours need not agree).
2. `people` keeps a Person per id: what is known of who they are, and their events
   waiting for a first clue. An event with clues becomes a lookup, sent to
   abm.directory.v1 keyed by the first directory key its plan tries; an `identify`
   passes what it learnt to the other ids it names, and releases waiting events.
3. `directory` keeps, per domain, contact and account id, the account it names (kept
   from the profiles' domains and the rosters' contacts, sent here by the ingest agents
   of those topics). A lookup that finds its account becomes an engagement event on
   abm.engagement.v1 (keyed by the account, with the method); one that does not goes to
   the plan's next key, and after the last to abm.unmatched.v1.

Every record sent on is forwarded through the write-behind, so the event that made it is
acknowledged only once the broker has it; a record sent twice after a crash is dropped by
event id where it lands (the account's seen ids; `abm unmatched` counts ids once).
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import orjson
from faust.types import EventT

from schemas.common import MAX_PAYLOAD_BYTES
from schemas.inputs import AccountProfile, ContactRoster
from schemas.outputs import DeadLetterReason, UnmatchedEvent
from streams.logic.identity.directory import (
    Changes,
    Entry,
    Waiting,
    claim,
    claim_profile,
    claim_roster,
    domains_of,
    keep,
    release,
    withdraw,
)
from streams.logic.identity.match import (
    Method,
    Unmatched,
    Why,
    account_key,
    contact_key,
    domain_key,
    plan,
)
from streams.logic.identity.people import (
    DAY_MS,
    Person,
    Request,
    activity_to,
    clues_from,
    clues_to,
    idle,
    learn,
    observe,
)
from streams.logic.identity.redact import EMAIL_CONTACT, blank, redact
from streams.logic.identity.segment import Activity, BadCall, Call, SegmentSource, read_call
from streams.logic.inputs.decode import InputKind, Rejected
from streams.logic.inputs.records import AccountInput, InputRecord, Removal, RosterInput
from streams.worker.agents.emit import coords_of, reject
from streams.worker.agents.watchdog import note_read
from streams.worker.context import WorkerContext
from streams.worker.survive import survive

__all__ = ["Claims", "claims_of", "index", "read_record", "register_identity", "route_key"]

log = logging.getLogger(__name__)


def _person_hash(person: str) -> str:
    return hashlib.sha256(person.encode()).hexdigest()[:16]


def _engagement(
    event_id: str, at: int, activity: Activity, account: str, method: str, contact: str | None
) -> bytes:
    event: dict[str, Any] = {
        "event_id": event_id,
        "account_id": account,
        "channel": activity.channel,
        "action": activity.action,
        "occurred_at": at,
        "match_method": method,
    }
    if contact is not None:
        event["contact_id"] = contact
    if activity.duration_s is not None:
        event["duration_s"] = activity.duration_s
    if activity.campaign_id is not None:
        event["campaign_id"] = activity.campaign_id
    return orjson.dumps(event)


ACCOUNT_PREFIX = account_key("")


def route_key(key: str) -> str:
    """The record key a directory key travels under: an account's is its bare id, so it
    lands on the partition that holds the account's state (the inputs are keyed so);
    a domain's or contact's is the key itself."""
    return key.removeprefix(ACCOUNT_PREFIX)


def _contact(contacts: tuple[str, ...]) -> str | None:
    """The contact id an event is counted under: the one an address became when known (the
    same for every id the person uses), else the user id."""
    return next((c for c in contacts if c.startswith(EMAIL_CONTACT)), None) or next(
        iter(contacts), None
    )


def read_record(value: bytes, key: bytes | None, source: SegmentSource) -> Call:
    """A raw record of abm.segment.v1 read as a call, redacted first; Rejected with the
    dead letter's reason when it cannot be."""
    if len(value) > MAX_PAYLOAD_BYTES:
        raise Rejected(DeadLetterReason.TOO_LARGE, f"{len(value)} bytes, over {MAX_PAYLOAD_BYTES}")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise Rejected(DeadLetterReason.INVALID_JSON, str(exc)) from None
    try:
        return read_call(redact(raw, key) if isinstance(raw, dict) else raw, source)
    except BadCall as exc:
        raise Rejected(DeadLetterReason.INVALID_PAYLOAD, str(exc)) from None


def _call_message(call: Call) -> dict[str, Any] | None:
    """What a call tells the people stage about its person: an event to match, or what
    the call says of who they are (passed on to the other ids it names); None for a
    call that is neither (a track name the mapping lacks)."""
    clues = clues_to(call.clues)
    if call.activity is not None:
        return {
            "t": "event",
            "id": call.event_id,
            "at": call.at,
            "a": activity_to(call.activity),
            "c": clues,
        }
    if call.kind in ("identify", "group", "alias"):
        ids = [call.person, *call.others]
        return {"t": "link", "at": call.at, "c": clues, "ids": ids, "spread": True}
    return None


class Identity:
    """The three agents' shared steps."""

    def __init__(self, worker: WorkerContext) -> None:
        self.worker = worker
        self.source = worker.settings.sources.segment
        self.key = worker.settings.identity_key_bytes()
        self.outcomes = worker.metrics.identity
        self.warned = False
        self.newest = 0
        """The newest event time the people agent has seen: 'now' for the sweep."""

    async def to_people(self, person: str, message: dict[str, Any]) -> None:
        await self.worker.states.forward(
            self.worker.people_calls, person.encode(), orjson.dumps(message)
        )

    async def segment(self, event: EventT) -> None:
        if self.key is None and not self.warned:  # once, when the first call comes
            self.warned = True
            log.warning(
                "ABM_IDENTITY_KEY is not set: email addresses in Segment calls are reduced "
                "to their domains, and no one is known (or can be erased) by address"
            )
        value: bytes = event.value or b""
        try:
            call = read_record(value, self.key, self.source)
        except Rejected as why:
            self.outcomes["dead_letter"].inc()
            key = None if event.key is None else blank(event.key)
            await reject(self.worker, coords_of(event), key, blank(value), why)
            return
        if call.unmapped is not None:
            self.outcomes["unmapped"].inc()
        if (message := _call_message(call)) is not None:
            await self.to_people(call.person, message)

    async def people(self, event: EventT) -> None:
        worker = self.worker
        person_id = (event.key or b"").decode()
        message = orjson.loads(event.value)
        if message["t"] == "forget":
            await self.forget(person_id, message, event.message.partition)
            return
        if message["t"] == "expire":
            self.expire(person_id, message["before"], event.message.partition)
            return
        self.newest = max(self.newest, message["at"])
        person: Person = worker.states.get(worker.people, person_id) or Person()
        clues = clues_from(message["c"])
        if message["t"] == "event":
            activity = Activity(*message["a"])
            request = observe(person, message["id"], message["at"], activity, clues, self.source)
            if request is None:
                self.outcomes["waiting"].inc()
                await self.unmatched(
                    message["id"],
                    message["at"],
                    activity,
                    _person_hash(person_id),
                    Unmatched(Why.NO_IDENTITY),
                )
            else:
                await self.dispatch(request, person_id)
        else:
            ids = message["ids"]
            aliases = tuple(i for i in ids if i != person_id)
            for request in learn(person, clues, message["at"], self.source, aliases):
                await self.dispatch(request, person_id)
            if message["spread"]:  # what the first id now knows, to the call's other ids
                link = {**message, "c": clues_to(person.clues), "spread": False}
                for other in aliases:
                    await self.to_people(other, link)
        if person.dropped:
            self.outcomes["dropped"].inc(person.dropped)
            person.dropped = 0
        worker.states.put(worker.people, person_id, person, event.message.partition)

    def expire(self, person_id: str, before: int, partition: int) -> None:
        """Forget a person idle since before `before`, with what still waits: checked
        here, on the record's own partition (the sweep's look may be out of date)."""
        person: Person | None = self.worker.states.get(self.worker.people, person_id)
        if person is not None and idle(person, before):
            self.outcomes["dropped"].inc(len(person.pending))
            self.worker.states.delete(self.worker.people, person_id, partition)

    async def sweep(self) -> None:
        """Ask for every person of this worker idle `people_days` behind the newest event
        it has seen to be forgotten (through their own partition: a table is written only
        while a record of it is processed)."""
        if self.newest == 0:  # nothing seen yet: no 'now'
            return
        before = self.newest - self.source.people_days * DAY_MS
        message = orjson.dumps({"t": "expire", "before": before})
        # The ids first (the agents change the table meanwhile), each record read as it
        # comes: a RocksDB table is not decoded whole.
        for n, person_id in enumerate(list(self.worker.people.keys()), 1):
            if n % 1000 == 0:
                await asyncio.sleep(0)  # a long sweep must not hold up the streams
            person: Person | None = self.worker.states.get(self.worker.people, person_id)
            if person is not None and idle(person, before):
                await self.worker.people_calls.send(key=person_id.encode(), value=message)

    async def forget(self, person_id: str, message: dict[str, Any], partition: int) -> None:
        """`abm forget --email`: the person's record goes, and so do those of the ids it
        was seen with (each told once, by the first)."""
        worker = self.worker
        person: Person | None = worker.states.get(worker.people, person_id)
        if person is None:
            return
        worker.states.delete(worker.people, person_id, partition)
        if message["spread"]:
            for other in person.aliases:
                await self.to_people(other, {"t": "forget", "spread": False})

    async def dispatch(self, request: Request, person: str) -> None:
        """Send an event on by its plan: straight to its account, to the directory, or
        to the unmatched."""
        steps = plan(request.clues)
        contact = _contact(request.clues.contacts)
        if steps.direct is not None:
            await self.matched(
                request.event_id,
                request.at,
                request.activity,
                steps.direct,
                Method.ACCOUNT_ID,
                contact,
            )
        elif steps.candidates:
            lookup = {
                "t": "match",
                "id": request.event_id,
                "at": request.at,
                "a": activity_to(request.activity),
                "contact": contact,
                "p": _person_hash(person),
                "k": [[c.key, c.method.value] for c in steps.candidates],
                "o": [steps.otherwise.why.value, steps.otherwise.domain],
            }
            await self.to_directory(steps.candidates[0].key, lookup)
        else:
            await self.unmatched(
                request.event_id,
                request.at,
                request.activity,
                _person_hash(person),
                steps.otherwise,
            )

    async def to_directory(self, key: str, message: dict[str, Any]) -> None:
        await self.worker.states.forward(
            self.worker.lookups, route_key(key).encode(), orjson.dumps(message)
        )

    async def matched(
        self,
        event_id: str,
        at: int,
        activity: Activity,
        account: str,
        method: Method,
        contact: str | None,
    ) -> None:
        self.outcomes[f"matched_{method.value}"].inc()
        engagement = self.worker.inputs[InputKind.ENGAGEMENT]
        value = _engagement(event_id, at, activity, account, method.value, contact)
        await self.worker.states.forward(engagement, account.encode(), value)

    async def unmatched(
        self, event_id: str, at: int, activity: Activity, person: str, why: Unmatched
    ) -> None:
        """`person` is the hash of their id already."""
        self.outcomes[f"unmatched_{why.why.value}"].inc()
        record = UnmatchedEvent(
            event_id=event_id,
            reason=why.why.value,
            domain=why.domain,
            person=person,
            channel=activity.channel,
            action=activity.action,
            occurred_at=at,  # type: ignore[arg-type]  # EventTime takes epoch ms
            campaign_id=activity.campaign_id,
        )
        key = (why.domain or record.person).encode()
        await self.worker.states.forward(
            self.worker.unmatched, key, record.model_dump_json().encode()
        )

    async def directory(self, event: EventT) -> None:
        worker = self.worker
        message = orjson.loads(event.value)
        kind = message["t"]
        if kind == "match":
            await self.lookup(message)
            return
        partition = event.message.partition
        # The entry's key: an account's claims live under `a:` and its id, the rest under
        # the record's own key.
        key = account_key(message["account"]) if kind in ("profile", "roster") else None
        key = key or (event.key or b"").decode()
        entry: Entry = worker.states.get(worker.directory, key) or Entry()
        if kind == "profile":
            domains = message["domains"]
            changes = claim_profile(
                entry, message["account"], None if domains is None else tuple(domains)
            )
            await self.announce(changes, message["account"])
        elif kind == "roster":
            changes = claim_roster(entry, tuple(message["contacts"]))
            await self.announce(changes, message["account"])
        elif kind == "set":
            claim(entry, message["account"])
            for waited in release(entry):  # the domain's engagement from before its account
                await self.matched(
                    waited.event_id,
                    waited.at,
                    waited.activity,
                    message["account"],
                    Method.DOMAIN,
                    waited.contact,
                )
        elif kind == "wait":
            waiting = Waiting(
                message["id"], message["at"], Activity(*message["a"]), message["contact"]
            )
            if entry.account is not None:  # claimed since the lookup passed
                await self.matched(
                    waiting.event_id,
                    waiting.at,
                    waiting.activity,
                    entry.account,
                    Method.DOMAIN,
                    waiting.contact,
                )
                return
            keep(entry, waiting, self.source.unmatched_days, self.source.unmatched_max)
        elif kind == "unset" and withdraw(entry, message["account"]):
            worker.states.delete(worker.directory, key, partition)
            return
        worker.states.put(worker.directory, key, entry, partition)

    async def announce(self, changes: Changes, account: str) -> None:
        for key in changes.set:
            await self.to_directory(key, {"t": "set", "account": account})
        for key in changes.unset:
            await self.to_directory(key, {"t": "unset", "account": account})

    def resolve(self, key: str) -> str | None:
        """The account a directory key names: an account id is one when the engine holds
        the account (its table is co-partitioned with the lookup, routed by the bare id);
        a domain or contact when the directory says so."""
        if key.startswith(ACCOUNT_PREFIX):
            account = key.removeprefix(ACCOUNT_PREFIX)
            known = self.worker.states.get(self.worker.accounts, account) is not None
            return account if known else None
        entry: Entry | None = self.worker.states.get(self.worker.directory, key)
        return None if entry is None else entry.account

    async def lookup(self, message: dict[str, Any]) -> None:
        activity = Activity(*message["a"])
        (key, method), *rest = message["k"]
        if (account := self.resolve(key)) is not None:
            # Matched by a roster's contact: the person is that contact, as the roster
            # names them (their personas are looked up by it).
            contact = (
                key.removeprefix(contact_key(""))
                if method == Method.CONTACT
                else message["contact"]
            )
            await self.matched(
                message["id"], message["at"], activity, account, Method(method), contact
            )
        elif rest:
            await self.to_directory(rest[0][0], {**message, "k": rest})
        else:
            why, domain = message["o"]
            await self.unmatched(
                message["id"], message["at"], activity, message["p"], Unmatched(Why(why), domain)
            )
            if domain is not None:  # kept under its domain, for an account that claims it
                await self.to_directory(domain_key(domain), {**message, "t": "wait"})


@dataclass(frozen=True, slots=True)
class Claims:
    """What an account claimed in the directory before a profile or roster record, and
    what the record claims: only a change (or a repeat of a claim, whose first sending
    may be the one a crash lost) goes to the directory, so profiles and rosters that name
    no domain and no contact cost it nothing."""

    kind: str
    """"profile" (domains) or "roster" (contacts)."""
    account: str
    before: tuple[str, ...]
    after: tuple[str, ...] | None
    """None for a profile's tombstone."""

    def due(self, repeat: bool) -> bool:
        return bool(self.after) if repeat else (self.after or ()) != self.before


def claims_of(worker: WorkerContext, record: InputRecord) -> Claims | None:
    """Read before the record is taken: what its account claimed until now."""
    if isinstance(record, AccountInput) and isinstance(record.event, AccountProfile):
        state = worker.store.account(record.owner)
        before = state.profile.domains if state is not None and state.profile else ()
        profile = record.event
        return Claims("profile", record.owner, before, domains_of(profile.domain, profile.domains))
    if isinstance(record, Removal):
        state = worker.store.account(record.owner)
        before = state.profile.domains if state is not None and state.profile else ()
        return Claims("profile", record.owner, before, None)
    if isinstance(record, RosterInput):
        held = worker.store.rosters.get(record.owner)
        before = () if held is None else tuple(held.contacts)
        roster: ContactRoster | None = record.roster
        after = () if roster is None else tuple(c.contact_id for c in roster.contacts)
        return Claims("roster", record.owner, before, after)
    return None


async def index(worker: WorkerContext, claims: Claims, repeat: bool) -> None:
    """Tell the directory what the account now claims, when that is news."""
    if not claims.due(repeat):
        return
    if claims.kind == "profile":
        note = {"t": "profile", "account": claims.account, "domains": claims.after}
    else:
        note = {"t": "roster", "account": claims.account, "contacts": claims.after}
    key = route_key(account_key(claims.account)).encode()
    await worker.states.forward(worker.lookups, key, orjson.dumps(note))


def register_identity(worker: WorkerContext) -> None:
    identity = Identity(worker)
    worker.app.timer(interval=worker.settings.people_sweep_interval_s, name="forget-idle-people")(
        survive("forget-idle-people", worker.metrics.task_errors)(identity.sweep)
    )
    for topic, step, name in (
        (worker.segment_calls, identity.segment, "segment"),
        (worker.people_calls, identity.people, "people"),
        (worker.lookups, identity.directory, "directory"),
    ):

        async def agent(stream: Any, step: Any = step) -> None:
            async for event in stream.noack().events():  # acked once stored: write_behind
                message = event.message
                note_read(worker, message.tp, message.offset)
                try:
                    await step(event)
                except Exception as exc:  # a bug must not stop the stream or lose the record
                    log.exception(
                        "unexpected error on %s[%d]@%d",
                        message.topic,
                        message.partition,
                        message.offset,
                    )
                    failed = Rejected(DeadLetterReason.PROCESSING_ERROR, repr(exc))
                    value = None if event.value is None else blank(event.value)
                    await reject(worker, coords_of(event), event.key, value, failed)
                await worker.states.hold(event)

        agent.__name__ = agent.__qualname__ = f"identity_{name}"
        worker.app.agent(topic, name=f"identity-{name}")(agent)
