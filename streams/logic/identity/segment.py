"""Segment calls, as analytics.js, Segment's SDKs and RudderStack send them, read as what
the engine needs: who (the person's ids and the clues to their account), when, and which
engagement it was.

Which `track` names are which engagement is the rules file's `[sources.segment]`
(`SegmentSource`); a name it does not list is counted and ignored, not refused: a site
tracks many things that are not account engagement. `page` calls are web page views,
with their duration when the site sends one. `identify`, `group` and `alias` calls are
no engagement: they tell who a person is (identity/people.py).

The call is read after `redact` (redact.py): it holds no address, only domains and
keyed hashes.
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

from schemas.common import parse_event_time
from schemas.inputs import Action, Channel
from streams.logic.identity.domains import registrable
from streams.logic.identity.match import Clues
from streams.logic.identity.redact import EMAIL_CONTACT, BadCall
from streams.logic.rules import FrozenModel

__all__ = [
    "Activity",
    "BadCall",
    "Call",
    "Mapping",
    "SegmentSource",
    "read_call",
]

ID = re.compile(r"^[A-Za-z0-9_.:@/+-]{1,120}$")
NOT_ID = re.compile(r"[^A-Za-z0-9_.:@/+-]+")
KINDS = ("track", "page", "screen", "identify", "group", "alias")


class Mapping(FrozenModel):
    """The engagement a `track` name (or every `page`) counts as."""

    action: Action
    channel: Channel


def _default_events() -> dict[str, Mapping]:
    return {
        "Form Submitted": Mapping(action=Action.FORM_SUBMIT, channel=Channel.WEB),
        "Content Downloaded": Mapping(action=Action.CONTENT_DOWNLOAD, channel=Channel.WEB),
        "Email Opened": Mapping(action=Action.EMAIL_OPEN, channel=Channel.EMAIL),
        "Email Link Clicked": Mapping(action=Action.EMAIL_CLICK, channel=Channel.EMAIL),
        "Webinar Registered": Mapping(action=Action.EVENT_REGISTERED, channel=Channel.EVENT),
        "Webinar Attended": Mapping(action=Action.EVENT_ATTENDED, channel=Channel.EVENT),
        "Meeting Booked": Mapping(action=Action.MEETING, channel=Channel.SALES),
    }


class SegmentSource(FrozenModel):
    """`[sources.segment]` of the rules file: how Segment calls become engagement."""

    page: Mapping | None = Field(
        default=Mapping(action=Action.PAGE_VIEW, channel=Channel.WEB),
        description="what a `page` call counts as (its `properties.duration`, in seconds, "
        "is the time on the page when sent); omit the key to keep the default",
    )
    events: dict[str, Mapping] = Field(
        default_factory=_default_events,
        description="`track` event name -> action and channel; a table given here "
        "replaces the defaults; other names are counted and ignored",
    )
    stitch_days: int = Field(
        default=7,
        ge=0,
        le=30,
        description="events of a person up to this many days before they identify "
        "themselves are matched once they do",
    )
    pending_max: int = Field(
        default=200,
        ge=0,
        le=2_000,
        description="events kept per unidentified person while they wait (the oldest leave first)",
    )
    people_days: int = Field(
        default=90,
        ge=1,
        le=3650,
        description="a person (an anonymous or user id) with no event for this many days "
        "of event time is forgotten, with their waiting events: visitors are many, and most "
        "never come back",
    )
    unmatched_days: int = Field(
        default=30,
        ge=0,
        le=90,
        description="events of a business domain no account claims are kept this many "
        "days, and matched when an account claims the domain (it was added from `abm "
        "unmatched`, or its profile came late)",
    )
    unmatched_max: int = Field(
        default=500,
        ge=0,
        le=5_000,
        description="events kept per unclaimed domain (the oldest leave first)",
    )


@dataclass(frozen=True, slots=True)
class Activity:
    """The engagement a call counts as, without the account."""

    channel: str
    action: str
    duration_s: float | None = None
    campaign_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    kind: str
    event_id: str
    person: str
    """The id the person's identity is kept under: the user id, else the anonymous id."""
    others: tuple[str, ...]
    """Other ids the call says are the same person (an identify's anonymous id, an
    alias's previous id): they learn what `person` is known by."""
    at: int
    """Event time, epoch ms."""
    clues: Clues
    activity: Activity | None
    """None for identify, group and alias calls, and for a name the mapping lacks."""
    unmapped: str | None = None
    """A `track` name (or `screen`) the mapping does not list."""


def _dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadCall(f"{where} must be an object")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadCall(f"{where} must be text")
    return str(value)


def _id(value: str) -> str:
    """An id as a key and a Redis key part can carry it: as given when it can, else a
    stable hash of it."""
    if ID.match(value):
        return value
    return "x:" + hashlib.sha256(value.encode()).hexdigest()[:32]


def _slug(name: str) -> str | None:
    slug = NOT_ID.sub("-", name.strip()).strip("-")[:128]
    return slug or None


def _domain(*values: Any) -> str | None:
    for value in values:
        if isinstance(value, str) and value and (found := registrable(value)) is not None:
            return found
    return None


def _time(call: dict[str, Any]) -> int:
    for name in ("timestamp", "originalTimestamp", "receivedAt"):
        if (value := call.get(name)) is not None:
            try:
                return int(parse_event_time(value).timestamp() * 1000)
            except ValueError as exc:
                raise BadCall(f"{name}: {exc}") from None
    raise BadCall("timestamp: missing (also originalTimestamp and receivedAt)")


def _duration(properties: dict[str, Any]) -> float | None:
    value = properties.get("duration")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if 0 <= value <= 86_400 else None


def _clues(call: dict[str, Any], kind: str, user: str | None) -> Clues:
    traits = _dict(call.get("traits"), "traits")
    properties = _dict(call.get("properties"), "properties")
    context = _dict(call.get("context"), "context")
    context_traits = _dict(context.get("traits"), "context.traits")
    company = _dict(traits.get("company") or context_traits.get("company"), "traits.company")
    places = (properties, traits, context_traits)
    contacts = [p["email_contact"] for p in places if isinstance(p.get("email_contact"), str)]
    if user is not None:
        contacts.append(user)
    group_id = _text(call.get("groupId") if kind == "group" else context.get("groupId"), "groupId")
    account_id = next(
        (str(p["account_id"]) for p in places if isinstance(p.get("account_id"), str | int)),
        None,
    )
    return Clues(
        account_id=None if account_id is None else _id(account_id),
        contacts=tuple(dict.fromkeys(_id(c) for c in contacts)),
        group_id=None if group_id is None else _id(group_id),
        group_domain=_domain(traits.get("website"), traits.get("domain"))
        if kind == "group"
        else None,
        email_domain=_domain(*(p.get("email_domain") for p in places)),
        company_domain=_domain(
            company.get("domain"), _dict(context.get("company"), "context.company").get("domain")
        ),
    )


def _activity(
    call: dict[str, Any], kind: str, source: SegmentSource
) -> tuple[Activity | None, str | None]:
    properties = _dict(call.get("properties"), "properties")
    if kind == "page":
        mapping = source.page
        name = None if mapping is not None else "page"
    elif kind in ("track", "screen"):
        name = _text(call.get("event") if kind == "track" else "screen", "event")
        if name is None:
            raise BadCall("event: a track call needs its event name")
        mapping = source.events.get(name)
    else:
        return None, None
    if mapping is None:
        return None, name
    campaign = _dict(_dict(call.get("context"), "context").get("campaign"), "context.campaign")
    name_of = _text(campaign.get("name"), "context.campaign.name")
    return (
        Activity(
            channel=mapping.channel.value,
            action=mapping.action.value,
            duration_s=_duration(properties) if kind == "page" else None,
            campaign_id=None if name_of is None else _slug(name_of),
        ),
        None,
    )


def read_call(call: Any, source: SegmentSource) -> Call:
    """One Segment call (a redacted one) as the engine reads it; BadCall says what is
    wrong with one it cannot."""
    if not isinstance(call, dict):
        raise BadCall("a call must be a JSON object")
    kind = call.get("type")
    if kind not in KINDS:
        raise BadCall(f"type: must be one of {', '.join(KINDS)}")
    message_id = _text(call.get("messageId"), "messageId")
    if message_id is None:
        raise BadCall("messageId: missing")
    user = _text(call.get("userId"), "userId")
    anonymous = _text(call.get("anonymousId"), "anonymousId")
    previous = _text(call.get("previousId"), "previousId") if kind == "alias" else None
    ids = [_id(i) for i in (user, anonymous, previous) if i is not None]
    if user is None and anonymous is None:
        raise BadCall("userId or anonymousId: a call needs one")
    activity, unmapped = _activity(call, kind, source)
    clues = _clues(call, kind, None if user is None else _id(user))
    if kind in ("identify", "alias", "group"):
        # A contact made from an address is an id of the person too: its record lists
        # every id it was seen with, which `abm forget --email` follows.
        ids += [c for c in clues.contacts if c.startswith(EMAIL_CONTACT)]
        others = tuple(i for i in dict.fromkeys(ids[1:]) if i != ids[0])
    else:
        others = ()
    return Call(
        kind=kind,
        event_id="seg:" + _id(message_id),
        person=ids[0],
        others=others,
        at=_time(call),
        clues=clues,
        activity=activity,
        unmapped=unmapped,
    )
