"""Pure decision logic: no Kafka, no Redis, no clocks. Live agents and replay both call it.

Nothing here imports the project outside this package (and `schemas`), so it is tested
fast and compiled with mypyc when a build of exactly these sources exists (compiled.py).
"""

from streams.compiled import activate

activate(__path__)
