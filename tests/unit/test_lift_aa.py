"""Does the holdout's lift tell the truth about the demo's world? An A/A check: when the
world's sellers answer held-out alerts exactly as delivered ones, the 95% interval must
hold 1 in at least 90% of the worlds that measure a lift; and where answers do bring
opportunities, the lift must come out above 1 in most worlds.

Each world runs through the pure replay engine under the demo's rules, its sellers
answering the alerts as they fire (streams/dev/followup.py), and the lift is the KPI
report's. Worlds are small and seeds fixed, so the check is fast and the same every run.
"""

from typing import Any

from streams.dev.demo_routes import rule_set
from streams.dev.followup import answered_history
from streams.dev.synth import Sales, World
from streams.logic.kpis.lift import lift
from streams.logic.rules import Outcomes, Rules
from streams.replay.engine import Replay
from tests.factories import DAY, WALL

END = WALL - 30 * DAY
SAME = Sales(untold=Sales().told)
"""An A/A world: a held-out alert is answered as a delivered one is."""


def alerts(seed: int, sales: Sales, rules: Rules, accounts: int, days: int) -> dict[str, Any]:
    """The report's alerts section (all accounts) after `days` of a world's history."""
    world = World(seed=seed, accounts=accounts, days=days, end=END, sales=sales)
    engine = Replay(rules, WALL)
    setup = world.profiles() + world.rosters()
    list(answered_history(world, engine, setup, world.history()))  # the engine decides
    engine.finish()
    section: dict[str, Any] = engine.outcome().kpis(rules)["overall"]["alerts"]
    return section


def test_an_a_a_holdout_finds_no_lift():
    """Half the episodes held out, for groups large enough in small worlds."""
    rules = rule_set().model_copy(update={"outcomes": Outcomes(holdout=0.5)})
    runs = [alerts(seed, SAME, rules, accounts=150, days=35) for seed in range(40)]
    measured = [a for a in runs if a["lift_note"] == "measured"]
    assert len(measured) >= 30, [a["lift_note"] for a in runs]
    held = sum(a["held_out"] for a in runs)
    delivered = sum(a["delivered"] for a in runs)
    answered_held = sum(a["responded_held_out"] for a in runs) / held
    answered = sum(a["responded"] for a in runs) / delivered
    assert abs(answered_held - answered) < 0.05, (answered_held, answered)  # alike: A/A
    holding = [a for a in measured if a["lift_ci_95"][0] <= 1 <= a["lift_ci_95"][1]]
    assert len(holding) >= 0.9 * len(measured), [a["lift_ci_95"] for a in measured]


def test_answered_alerts_show_a_lift():
    """The demo's own rules (a fifth held out) in worlds twice the size: above 1 in most,
    and pooled over them the interval is above 1."""
    rules = rule_set()
    runs = [alerts(seed, Sales(), rules, accounts=300, days=40) for seed in range(10)]
    measured = [a for a in runs if a["lift_note"] == "measured"]
    assert len(measured) >= 8, [a["lift_note"] for a in runs]
    above = [a["lift"] for a in measured if a["lift"] > 1]
    assert len(above) >= 0.8 * len(measured), [a["lift"] for a in measured]
    pooled = lift(
        sum(a["opportunities_delivered"] for a in runs),
        sum(a["delivered"] for a in runs),
        sum(a["opportunities_held_out"] for a in runs),
        sum(a["held_out"] for a in runs),
    )
    assert pooled.low is not None, pooled
    assert pooled.low > 1, pooled
