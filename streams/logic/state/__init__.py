"""What the engine keeps per account: the state record and what it is made of (remembered
event ids, day windows, the roster, opportunities, customer status), the staleness timer's
due index, and erasing a person from all of it."""

from streams.compiled import activate

activate(__path__, "state")
