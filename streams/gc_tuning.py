"""CPython's cyclic garbage collector, set for processes that hold many accounts' state.

Account states are many small, long-lived containers (day buckets, id dicts, opportunity
histories) that hold no reference cycles. With the default thresholds (a young collection
every 700 allocations) the collector keeps re-scanning them as they survive and age: a
third of a replay's time went to it. A worker collects every 50,000 allocations, with the
modules loaded at start frozen out of the scans, and stays collecting for the cycles
libraries do make (asyncio, Faust, aiokafka) for as long as it runs.

A replay pass is bounded, and its logic makes no cycles (a collection after a whole
benchmark pass found none), so it runs with the collector off. Even young collections
cost there: each follows the new objects' references into a heap of hundreds of MB, and
each took longer as the states grew (bench/README.md). What a pass's reader makes in
cycles waits for the
end of the pass, which is why a rejected record is kept without its traceback
(replay/sources.py): that would tie the record's whole batch into a cycle.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["THRESHOLDS", "collector_off", "tune_for_state"]

THRESHOLDS = (50_000, 50, 100)


def tune_for_state() -> None:
    """For a process's whole life (a worker): set the thresholds, freeze what is loaded."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def collector_off() -> Iterator[None]:
    """For a bounded pass (a replay): no collections, then the caller's setting back.

    What the pass made is then moved to the oldest generation: left young, the first
    allocation after it would start a young collection of every state it built."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # every tracked object out of the generations, the young count reset
        gc.unfreeze()  # and back, all into the oldest
        if was:
            gc.enable()
