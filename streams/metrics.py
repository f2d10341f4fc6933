"""The worker's Prometheus metrics: what came in and how it ended, what went out, errors.

Counters are bound to their labels once (a label lookup per event costs more than the
increment), so the live path pays one `inc()` per outcome.
"""

from prometheus_client import CollectorRegistry, Counter, generate_latest

from schemas.outputs import DeadLetterReason

__all__ = ["Metrics"]

OUTCOMES = ("applied", "duplicate", "dead_letter")


class Metrics:
    """One registry per worker (tests run several apps in one process)."""

    def __init__(self, input_kinds: list[str]) -> None:
        self.registry = CollectorRegistry()
        events = Counter(
            "abm_events",
            "Input records by topic kind and outcome (applied, duplicate, dead_letter)",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.events = {(k, o): events.labels(k, o) for k in input_kinds for o in OUTCOMES}
        outputs = Counter(
            "abm_outputs", "Records published by output", ["output"], registry=self.registry
        )
        self.outputs = {o: outputs.labels(o) for o in ("tier_change", "surge_alert", "dead_letter")}
        dead = Counter(
            "abm_dead_letters", "Dead letters by reason", ["reason"], registry=self.registry
        )
        self.dead_letters = {r: dead.labels(r.value) for r in DeadLetterReason}

    def render(self) -> bytes:
        return generate_latest(self.registry)
