"""A dead letter can always be sent: bounded whatever the bytes, and whole when it fits."""

import base64
import hashlib

from hypothesis import given
from hypothesis import strategies as st

from schemas.common import RECORD_MAX_BYTES
from schemas.outputs import DeadLetterReason
from streams.logic.inputs.decode import (
    DEAD_LETTER_KEY_BYTES,
    DEAD_LETTER_VALUE_BYTES,
    Coords,
    Rejected,
    dead_letter,
)

WHY = Rejected(DeadLetterReason.TOO_LARGE, "x" * 5000)


NOW_MS = 1_790_000_000_000


def letter(key: bytes | None, value: bytes | None):
    where = Coords("abm.engagement.v1", 3, 7, NOW_MS)
    return dead_letter("abm.engagement.v1", where, key, value, WHY, NOW_MS)


def kept(record) -> bytes:
    return base64.b64decode(record.value) if record.encoding == "base64" else record.value.encode()


# Values of every size up to twice the bound, built from a few repeated hostile bytes.
values = st.one_of(
    st.binary(max_size=2000),
    st.builds(
        lambda unit, n: (unit * (n // max(1, len(unit)) + 1))[:n],
        st.sampled_from([b"\x01", b"\xff", b'"', b"\\", "é".encode(), "☃".encode(), b"a"]),
        st.integers(0, 2 * DEAD_LETTER_VALUE_BYTES),
    ),
)


@given(value=values, key=st.one_of(st.none(), st.binary(max_size=3 * DEAD_LETTER_KEY_BYTES)))
def test_a_dead_letter_fits_the_broker_and_is_whole_when_it_can_be(value, key):
    record = letter(key, value)
    assert len(record.model_dump_json()) < RECORD_MAX_BYTES * 0.85
    assert record.value_bytes == len(value)
    assert record.value_sha256 == hashlib.sha256(value).hexdigest()
    if len(value) <= DEAD_LETTER_VALUE_BYTES and (key is None or len(key) <= DEAD_LETTER_KEY_BYTES):
        assert not record.truncated
        assert kept(record) == value  # nothing lost
    else:
        assert record.truncated
        assert value.startswith(kept(record))
        assert (
            len(kept(record)) > DEAD_LETTER_VALUE_BYTES - 4 or len(value) <= DEAD_LETTER_VALUE_BYTES
        )


def test_a_cut_inside_a_character_keeps_the_text_as_text():
    value = "☃".encode() * DEAD_LETTER_VALUE_BYTES  # three bytes each: the cut splits one
    record = letter(b"k", value)
    assert record.encoding == "utf-8"
    assert record.truncated
    assert value.startswith(record.value.encode())
