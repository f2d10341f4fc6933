"""Which account an event belongs to when its sender did not say: registrable domains,
free mail, and the order in which the clues an event carries are tried."""

from streams.compiled import activate

activate(__path__, "identity")
