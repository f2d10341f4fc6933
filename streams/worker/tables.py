"""State tables: one AccountState per account (and per campaign's spend), as compact orjson.

Faust takes a table's serializer from a faust.Record value type and otherwise falls back
to JSON, which would hand recovery plain dicts. The state is a plain dataclass (the pure
logic knows no Faust), so the table class names its codec itself, before Faust builds the
changelog topic and the store from it.
"""

from typing import Any

import faust
from faust.serializers import codecs

from streams.config import Settings
from streams.logic.state import AccountState

__all__ = ["STATE_CODEC", "state_table"]

STATE_CODEC = "abm-account-state"
MIB = 1024 * 1024


class _AccountStateCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.to_json()

    def _loads(self, s: bytes) -> Any:
        return AccountState.from_json(s)


codecs.register(STATE_CODEC, _AccountStateCodec())


class _AccountTable(faust.Table):
    def _serializer_from_type(self, typ: Any) -> Any:
        return super()._serializer_from_type(typ) if typ is not None else STATE_CODEC


def store_options(settings: Settings) -> dict[str, int] | None:
    """RocksDB's memory per table partition, bounded (faust's defaults reserve 2 GiB of
    block cache and 192 MiB of write buffers for each); nothing for the memory store."""
    if not settings.store.startswith("rocksdb"):
        return None
    return {
        "block_cache_size": settings.rocksdb_block_cache_mib * MIB,
        "write_buffer_size": settings.rocksdb_write_buffer_mib * MIB,
        "max_write_buffer_number": 2,
    }


def state_table(app: faust.App, name: str, settings: Settings) -> faust.Table:
    table = _AccountTable(
        app,
        name=name,
        default=None,
        key_type=str,
        partitions=settings.partitions,
        options=store_options(settings),
        beacon=app.tables.beacon,
    )
    return app.tables.add(table)
