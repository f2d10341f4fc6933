"""What a tier-1 day should be followed by, for `abm tune`: named apart from the tuning so
the command line lists the choices without loading numpy."""

from typing import Literal

__all__ = ["OBJECTIVES", "Objective"]

Objective = Literal["opportunity", "won"]
OBJECTIVES: tuple[Objective, ...] = ("opportunity", "won")
