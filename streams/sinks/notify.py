"""A surge alert as a person reads it (Slack-compatible JSON), and the signature that proves
it came from us.

The body carries Slack's `text` and `blocks` for a human and the whole alert under `alert`
for machines. Every string from the data (names, owners, topics, titles) is escaped as
Slack asks (`&`, `<`, `>`): unescaped, an account named `<!channel>` would ping a channel,
and `<https://evil.example|Open in CRM>` would render a link, in a message our key signs.
The signature follows the common webhook scheme: HMAC-SHA256 over "{timestamp}.{body}",
so a receiver can reject both forgeries and stale replays.
"""

import hashlib
import hmac
import time
from collections.abc import Iterable

import orjson

from schemas.outputs import CommitteeMember, SurgeAlert, SurgeTopic, TierChange

__all__ = [
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "TOLERANCE_S",
    "Delivery",
    "delivery_id",
    "escaped",
    "message",
    "render",
    "sign",
    "tier_message",
    "verify",
]

Delivery = SurgeAlert | TierChange
"""What a route delivers: a surge alert, or a tier change (an account entering a better
tier)."""

SIGNATURE_HEADER = "X-ABM-Signature"
TIMESTAMP_HEADER = "X-ABM-Timestamp"
_TIERS = {0: "untiered", 1: "Tier 1", 2: "Tier 2", 3: "Tier 3"}


def escaped(text: str) -> str:
    """`text` as Slack's mrkdwn shows it literally (its own escaping rules)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _headline(alert: SurgeAlert) -> str:
    who = escaped(alert.account_name or alert.account_id)
    kind = "Intent" if alert.kind == "intent" else "Engagement"
    if alert.cluster:
        kind = f"{kind} ({escaped(alert.cluster)})"
    owner = f", owner {escaped(alert.owner)}" if alert.owner else ""
    return f"{kind} surge: {who} ({_TIERS[alert.tier]}{owner})"


def _ratio(ratio: float | None) -> str:
    return "new" if ratio is None else f"{ratio:.1f}x"


def _source(topic: SurgeTopic) -> str:
    """Who said it and when, where known: sales trusts a named source."""
    if topic.provider is None:
        return ""
    day = f" on {topic.seen_on:%b %d}" if topic.seen_on is not None else ""
    return f", {escaped(topic.provider)}{day}"


def _person(member: CommitteeMember) -> str:
    who = escaped(member.title or member.contact_id or "a contact")
    return f"{who} ({member.persona.replace('_', ' ')})"


def _personas(counts: Iterable[tuple[str, int]]) -> str:
    return ", ".join(f"{n} {p.replace('_', ' ')}" for p, n in counts)


def _evidence(alert: SurgeAlert) -> str:
    if alert.kind == "intent":
        what = ", ".join(
            f"{escaped(t.topic)} {t.score:g} ({_ratio(t.ratio)}{_source(t)})"
            for t in alert.topics[:5]
        )
    elif alert.ratio is None:
        what = f"{alert.score:g} points in 7 days, none in the weeks before"
    else:
        what = (
            f"{alert.score:g} points in 7 days vs {alert.baseline:.3g} a week before "
            f"({alert.ratio:.1f}x)"
        )
    channels = ", ".join(escaped(c.channel) for c in alert.top_channels) or "none"
    contacts = f"{alert.engaged_contacts} engaged contact" + (
        "" if alert.engaged_contacts == 1 else "s"
    )
    committee = ", ".join(_person(m) for m in alert.committee[:5])
    people = f" ({committee})" if committee else ""
    return f"{what}; {contacts}{people}; top channels: {channels}"


def _slack(headline: str, detail: str, name: str, whole: SurgeAlert | TierChange) -> bytes:
    """A Slack message (a bold headline, then the detail) with the whole output under
    `name`: readable in Slack as is, complete for any other consumer."""
    return orjson.dumps(
        {
            "text": f"{headline}: {detail}",
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{headline}*"}},
                {"type": "section", "text": {"type": "mrkdwn", "text": detail}},
            ],
            name: whole.model_dump(mode="json"),
        }
    )


def message(alert: SurgeAlert) -> bytes:
    """The POST body of an alert, the whole alert under `alert`."""
    return _slack(_headline(alert), _evidence(alert), "alert", alert)


def tier_message(change: TierChange) -> bytes:
    """A tier change as a person reads it in Slack, with the whole change under `change`."""
    headline = (
        f"Tier up: {escaped(change.account_name or change.account_id)} is now "
        f"{_TIERS[change.tier]} (was {_TIERS[change.previous_tier]}), rule {escaped(change.rule)}"
    )
    i = change.inputs
    detail = (
        f"fit {i.fit if i.fit is not None else '-'}, ACV {i.acv:,.0f}, "
        f"intent {'yes' if i.recent_intent else 'no'}"
        + (f" ({', '.join(escaped(t) for t in i.intent_topics[:5])})" if i.intent_topics else "")
        + f", engagement {i.engagement_points:g} points, {i.engaged_contacts} contacts"
        + (f" ({_personas(i.personas.items())})" if i.personas else "")
    )
    return _slack(headline, detail, "change", change)


def render(item: Delivery, format: str) -> bytes:
    """A route's POST body: `json` is the output contract itself, `slack` a message."""
    if format == "json":
        return item.model_dump_json().encode()
    return message(item) if isinstance(item, SurgeAlert) else tier_message(item)


def delivery_id(item: Delivery) -> str:
    """What a receiver de-duplicates on (sent as X-ABM-Alert-Id)."""
    if isinstance(item, SurgeAlert):
        return item.alert_id
    return f"tier:{item.account_id}:{item.version}"


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


TOLERANCE_S = 300
"""How far from the receiver's clock a signed timestamp may be: a captured request cannot
be replayed later than this."""


def verify(
    secret: bytes,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """What a receiver runs: the signature (compared in constant time) over a timestamp
    within `tolerance_s` of `now` (the wall clock unless given). docs/topics.md has the
    same, standalone, to copy."""
    if not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
