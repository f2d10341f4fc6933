"""Pure decision logic: no Kafka, no Redis, no clocks. Live agents and replay both call it.

Compiled with mypyc when a build of exactly these sources exists (see streams/kernel.py).
"""

from streams.kernel import activate

activate(__path__)
