"""One input record's path: bytes decoded into what the record is (or why it is refused),
dispatched to the state it changes, and applied there."""

from streams.compiled import activate

activate(__path__, "inputs")
