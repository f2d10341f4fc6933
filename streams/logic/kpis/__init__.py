"""ABM KPIs as integer counters each account contributes, their per-partition roll-up, and
the report read from their sums."""

from streams.compiled import activate

activate(__path__, "kpis")
