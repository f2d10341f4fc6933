"""State tables: one AccountState per account (and per campaign's spend), one Roster per
account, and account matching's two (a Person per anonymous or user id, a directory Entry
per domain, contact and account), as compact orjson.

Faust takes a table's serializer from a faust.Record value type and otherwise falls back
to JSON, which would hand recovery plain dicts. The values are plain dataclasses (the pure
logic knows no Faust), so each table class names its codec itself, before Faust builds
the changelog topic and the store from it.
"""

from typing import Any

import faust
from faust.serializers import codecs

from streams.clients.admin import topic_configs
from streams.config import Settings
from streams.logic.identity.directory import Entry
from streams.logic.identity.people import Person
from streams.logic.state.roster import Roster
from streams.logic.state.state import AccountState

__all__ = ["directory_table", "people_table", "roster_table", "state_table"]

Stored = type[AccountState] | type[Roster] | type[Person] | type[Entry]

MIB = 1024 * 1024


class _Codec(codecs.Codec):
    def __init__(self, kind: Stored) -> None:
        super().__init__()
        self.kind = kind

    def _dumps(self, obj: Any) -> bytes:
        return obj.to_json()

    def _loads(self, s: bytes) -> Any:
        return self.kind.from_json(s)


def _table_class(codec: str, kind: Stored) -> type[faust.Table]:
    codecs.register(codec, _Codec(kind))

    class _Table(faust.Table):
        def _serializer_from_type(self, typ: Any) -> Any:
            return super()._serializer_from_type(typ) if typ is not None else codec

    return _Table


_AccountTable = _table_class("abm-account-state", AccountState)
_RosterTable = _table_class("abm-roster", Roster)
_PeopleTable = _table_class("abm-person", Person)
_DirectoryTable = _table_class("abm-directory-entry", Entry)


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
    return _add(app, _AccountTable, name, settings)


def roster_table(app: faust.App, name: str, settings: Settings) -> faust.Table:
    return _add(app, _RosterTable, name, settings)


def people_table(app: faust.App, name: str, settings: Settings) -> faust.Table:
    return _add(app, _PeopleTable, name, settings)


def directory_table(app: faust.App, name: str, settings: Settings) -> faust.Table:
    return _add(app, _DirectoryTable, name, settings)


def _add(app: faust.App, cls: type[faust.Table], name: str, settings: Settings) -> faust.Table:
    table = cls(
        app,
        name=name,
        default=None,
        key_type=str,
        partitions=settings.partitions,
        options=store_options(settings),
        extra_topic_configs=topic_configs(settings, settings.changelog(name)),
        beacon=app.tables.beacon,
    )
    app.tables.add(table)
    return table
