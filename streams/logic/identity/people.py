"""What is known of one person (an anonymous id or a user id), and the events that wait
until they say who they are.

A visitor browses anonymously first; only when they fill a form (an `identify` with an
address) or their site account is linked to a company (a `group`) is there a clue to
their account. Their events until then wait here, and once a clue arrives, the ones of
the `stitch_days` before it are matched too, once: each keeps its own event id, so a
second delivery of the same event changes nothing where it is applied. An id that
`identify` or `alias` says is the same person learns the same clues (people agent).

Bounded: at most `pending_max` events wait per person (the oldest leave first), and
none older than `stitch_days` before the person's newest event.
"""

from dataclasses import dataclass, field
from typing import Any

import orjson

from streams.logic.identity.match import Clues
from streams.logic.identity.segment import Activity, SegmentSource

__all__ = [
    "Person",
    "Request",
    "activity_to",
    "clues_from",
    "clues_to",
    "idle",
    "learn",
    "observe",
]

DAY_MS = 86_400_000
MAX_ALIASES = 50


@dataclass(frozen=True, slots=True)
class Request:
    """An event to match: its id, time and engagement, and the clues to its account."""

    event_id: str
    at: int
    activity: Activity
    clues: Clues


@dataclass(slots=True)
class Person:
    clues: Clues = field(default_factory=Clues)
    pending: list[tuple[str, int, Activity]] = field(default_factory=list)
    """(event id, time, engagement) of events that came before any clue."""
    newest: int = 0
    aliases: tuple[str, ...] = ()
    """Other ids an identify or alias said are this person (at most MAX_ALIASES, the
    latest kept): where `abm forget` follows them."""
    dropped: int = 0
    """Events let go unmatched since the last read (the metrics take and reset it)."""

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "c": clues_to(self.clues),
                "p": [[i, at, *activity_to(a)] for i, at, a in self.pending],
                "n": self.newest,
                "i": self.aliases,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes) -> "Person":
        data = orjson.loads(raw)
        return cls(
            clues=clues_from(data["c"]),
            pending=[(p[0], p[1], Activity(*p[2:])) for p in data["p"]],
            newest=data["n"],
            aliases=tuple(data["i"]),
        )


def activity_to(activity: Activity) -> list[Any]:
    """An activity as a JSON array (a record holds many)."""
    return [activity.channel, activity.action, activity.duration_s, activity.campaign_id]


def clues_to(clues: Clues) -> dict[str, Any]:
    """The clues as JSON (the fields that are set)."""
    out: dict[str, Any] = {
        name: getattr(clues, name)
        for name in ("account_id", "group_id", "group_domain", "email_domain", "company_domain")
        if getattr(clues, name) is not None
    }
    if clues.contacts:
        out["contacts"] = list(clues.contacts)
    return out


def clues_from(data: dict[str, Any]) -> Clues:
    return Clues(**{**data, "contacts": tuple(data.get("contacts", ()))})


def observe(
    person: Person, event_id: str, at: int, activity: Activity, own: Clues, source: SegmentSource
) -> Request | None:
    """An event of this person: the request to match it, or None when it must wait for
    a clue (kept in `pending`)."""
    person.newest = max(person.newest, at)
    clues = own.over(person.clues)
    if clues:
        return Request(event_id, at, activity, clues)
    if all(event_id != waiting[0] for waiting in person.pending):
        person.pending.append((event_id, at, activity))
    _prune(person, source)
    return None


def learn(
    person: Person, clues: Clues, at: int, source: SegmentSource, aliases: tuple[str, ...] = ()
) -> list[Request]:
    """A clue to who the person is, given at `at` (with other ids that are the same
    person): the events waiting that it matches (those of the `stitch_days` before it,
    or later), in the order they happened."""
    person.newest = max(person.newest, at)
    person.aliases = tuple(dict.fromkeys((*person.aliases, *aliases)))[-MAX_ALIASES:]
    person.clues = clues.over(person.clues)
    if not person.clues:
        return []
    since = at - source.stitch_days * DAY_MS
    ready = sorted((e for e in person.pending if e[1] >= since), key=lambda e: (e[1], e[0]))
    person.dropped += len(person.pending) - len(ready)
    person.pending = []
    return [Request(event_id, t, activity, person.clues) for event_id, t, activity in ready]


def _prune(person: Person, source: SegmentSource) -> None:
    since = person.newest - source.stitch_days * DAY_MS
    kept = [e for e in person.pending if e[1] >= since]
    if len(kept) > source.pending_max:
        kept.sort(key=lambda e: e[1])
        kept = kept[len(kept) - source.pending_max :]
    person.dropped += len(person.pending) - len(kept)
    person.pending = kept


def idle(person: Person, before: int) -> bool:
    """Whether the person has had no event since `before` (epoch ms, event time)."""
    return person.newest < before
