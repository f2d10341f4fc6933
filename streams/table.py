"""State tables: one AccountState per account (and per campaign's spend), as compact orjson.

Faust takes a table's serializer from a faust.Record value type and otherwise falls back
to JSON, which would hand recovery plain dicts. The state is a plain dataclass (the pure
logic knows no Faust), so the table class names its codec itself, before Faust builds the
changelog topic and the store from it.
"""

from typing import Any

import faust
from faust.serializers import codecs

from streams.logic.state import AccountState

__all__ = ["STATE_CODEC", "state_table"]

STATE_CODEC = "abm-account-state"


class _AccountStateCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.to_json()

    def _loads(self, s: bytes) -> Any:
        return AccountState.from_json(s)


codecs.register(STATE_CODEC, _AccountStateCodec())


class _AccountTable(faust.Table):
    def _serializer_from_type(self, typ: Any) -> Any:
        return super()._serializer_from_type(typ) if typ is not None else STATE_CODEC


def state_table(app: faust.App, name: str, partitions: int) -> faust.Table:
    table = _AccountTable(
        app,
        name=name,
        default=None,
        key_type=str,
        partitions=partitions,
        beacon=app.tables.beacon,
    )
    return app.tables.add(table)
