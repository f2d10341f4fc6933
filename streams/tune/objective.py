"""What should follow a tier-1 day, or an alert, for `abm tune`: named apart from the
tuning so the command line lists the choices without loading numpy."""

from typing import Literal

__all__ = ["OBJECTIVES", "Objective"]

Objective = Literal["opportunity", "won", "alerts"]
OBJECTIVES: tuple[Objective, ...] = ("opportunity", "won", "alerts")
