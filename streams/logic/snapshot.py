"""The account snapshot written to Redis: absolute values only, so rewriting is harmless."""

from schemas.common import from_ms
from streams.logic.inputs.apply import CLOSED_STAGES
from streams.logic.rules import Rules
from streams.logic.signals.aggregates import windows_of
from streams.logic.signals.alerts import standing
from streams.logic.signals.tiering import measure
from streams.logic.state.state import AccountState

__all__ = ["account_snapshot"]


def _num(value: float) -> str:
    return f"{value:.6g}" if value != int(value) else str(int(value))


def _iso(ms: int) -> str:
    return from_ms(ms).isoformat().replace("+00:00", "Z")


def account_snapshot(state: AccountState, rules: Rules) -> dict[str, str]:
    """Every field always present (empty when unknown), so a hash write replaces it whole."""
    s = measure(state, rules, state.clock, windows_of(state, rules, state.clock))
    opps = state.opportunities.values()
    pipeline = sum(o.amount for o in opps if o.closed_at is None)
    won = sum(o.amount for o in opps if o.stage == "closed_won")
    profile = state.profile
    surge = standing(state, rules)
    return {
        "account_id": state.account_id,
        "name": profile.name if profile else "",
        "owner": (profile.owner or "") if profile else "",
        "tier": str(state.tier),
        "rule": state.rule,
        "version": str(state.version),
        "stage": state.stage,
        "stage_version": str(state.stage_version),
        "reached": ",".join(f"{stage}:{at}" for stage, at in state.reached.items()),
        "fit": "" if s.fit is None else _num(s.fit),
        "acv": _num(s.acv),
        "intent_max": _num(s.intent_max),
        "intent_topics": ",".join(s.intent_topics),
        "engagement_points": _num(s.engagement_points),
        "engaged_contacts": str(s.engaged_contacts),
        "recent_intent": str(int(s.recent_intent)),
        "recent_engagement": str(int(s.recent_engagement)),
        "open_opportunities": str(sum(1 for o in opps if o.stage not in CLOSED_STAGES)),
        "pipeline": _num(pipeline),
        "won_revenue": _num(won),
        "surging": ",".join(surge.kinds),
        "surge_strength": _num(surge.strength),
        "updated_at": _iso(state.clock) if state.clock else "",
    }
