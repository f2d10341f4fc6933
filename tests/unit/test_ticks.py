"""The staleness timer's rounds: bounded, only what is due, and nobody left waiting."""

import math

from hypothesis import given
from hypothesis import strategies as st

from streams.logic.state.ticks import due_now, pick_due

entries = st.tuples(st.integers(0, 100), st.one_of(st.none(), st.integers(0, 5)))
indexes = st.dictionaries(st.text("abcdef", min_size=1, max_size=4), entries, max_size=40)
nows = st.dictionaries(st.integers(0, 5), st.integers(0, 100), max_size=6)


@given(indexes, nows, st.integers(0, 50))
def test_a_round_takes_the_first_due_accounts_up_to_the_budget(index, now, budget):
    picked = pick_due(index, now, budget)
    due = [
        (a, p, now[p])
        for a, (at, p) in index.items()
        if p is not None and p in now and now[p] >= at
    ]
    assert picked == due[: max(budget, 0)]
    for account, partition, at in picked:
        assert due_now(index[account], now) == at
        assert index[account][1] == partition


@given(st.integers(1, 60), st.integers(1, 25), st.randoms(use_true_random=False))
def test_every_due_account_is_ticked_within_due_over_budget_rounds(accounts, budget, rng):
    """Ticked accounts go back at the end of the index (due again at once: the worst case,
    as under compressed event time); events meanwhile move some accounts' due times."""
    index = {f"a{n}": (0, 0) for n in range(accounts)}
    waiting_since = dict.fromkeys(index, 0)
    rounds = math.ceil(accounts / budget)
    for round_ in range(1, 4 * rounds):
        for account, _, _ in pick_due(index, {0: round_}, budget):
            assert round_ - waiting_since[account] <= rounds
            del index[account]
            index[account] = (round_, 0)
            waiting_since[account] = round_
        moved = rng.choice(list(index))
        index[moved] = (round_, 0)  # an event re-tiers it: same place in the index
    assert all(round_ - since <= rounds for since in waiting_since.values())
