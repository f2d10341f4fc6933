"""What the rules read and decide from an account's state: fit, the topic catalogue, the
buying committee, the windowed aggregates, surges and their alerts, the tier, the journey
stage."""

from streams.compiled import activate

activate(__path__, "signals")
