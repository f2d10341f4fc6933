"""The benchmark's events: realistic shares of each kind over many accounts, unique ids.

About 80% engagement (the synthetic world's mix: page views and email the bulk; most
touches off the web carry a campaign_id), 15%
intent, 5% deal stages, spread evenly over the last 30 days (or `days`) in event-time
order, plus one profile per account (sent first, as a CRM sync would be) with a fit score.
"""

import itertools
import random
from typing import Any

from streams.dev.synth import STAGES, TOPICS, Row, draw_action

__all__ = ["workload"]

DAY_MS = 86_400_000
DEAL_STAGES = [*STAGES, "closed_won", "closed_lost"]
CAMPAIGNS = ["abm-tier1", "abm-tier2", "brand", "events"]


def workload(
    events: int, accounts: int, end_ms: int, seed: int = 7, days: int = 30, skew: float = 0.0
) -> list[Row]:
    """Profiles, then `events` events over the `days` ending at `end_ms`. With `skew` s > 0
    the events' accounts are drawn Zipf-like, the k-th busiest with weight 1 / k^s (real
    traffic: s = 1.1 gives the busiest 1% of 10,000 accounts two thirds of the events)."""
    rng = random.Random(seed)
    tags = random.Random(seed + 1)  # campaign tags: the rest is the same with or without them
    names = [f"acct-{n:06d}" for n in range(accounts)]
    rows: list[Row] = [
        (
            "accounts",
            {
                "account_id": name,
                "name": name,
                "industry": rng.choice(["software", "fintech", "retail"]),
                "employees": rng.choice([80, 400, 2500]),
                "expected_acv": rng.choice([20_000, 60_000, 150_000]),
                # As a CRM's fit scores spread: about four accounts in ten reach the tier
                # rules' fit of 70, so tiers, their changes and tiered alerts all happen.
                "fit_score": rng.randrange(30, 101),
            },
        )
        for name in names
    ]
    start = end_ms - days * DAY_MS
    step = (end_ms - start) / max(events, 1)
    zipf = list(itertools.accumulate(1 / k**skew for k in range(1, accounts + 1))) if skew else []
    for n in range(events):
        if skew:
            account = rng.choices(names, cum_weights=zipf)[0]
        else:
            # Most events spread over every account; one in five goes to the busiest 1%.
            busy = rng.random() < 0.2
            account = names[rng.randrange(max(1, accounts // 100) if busy else accounts)]
        at = int(start + n * step)
        base: dict[str, Any] = {"event_id": f"b{n}", "account_id": account, "occurred_at": at}
        draw = rng.random()
        if draw < 0.80:
            action, channel, _ = draw_action(rng)
            contact = f"{account}-c{rng.randrange(6)}"
            event = {**base, "contact_id": contact, "channel": channel, "action": action}
            if channel != "web" and tags.random() < 0.7:
                event["campaign_id"] = tags.choice(CAMPAIGNS)
            rows.append(("engagement", event))
        elif draw < 0.95:
            score = min(100, max(0, int(rng.gauss(45, 20))))
            rows.append(
                (
                    "intent",
                    {**base, "provider": "bench", "topic": rng.choice(TOPICS), "score": score},
                )
            )
        else:
            rows.append(
                (
                    "deals",
                    {
                        **base,
                        "opportunity_id": f"{account}-o{rng.randrange(3)}",
                        "stage": rng.choice(DEAL_STAGES),
                        "amount": rng.choice([20_000, 60_000, 150_000]),
                        "deal_type": "new",
                    },
                )
            )
    return rows
