"""Faust codec for the account state record: compact orjson on the changelog, objects in memory."""

from typing import Any

from faust.serializers import codecs

from streams.logic.state import AccountState

__all__ = ["STATE_CODEC"]

STATE_CODEC = "abm-account-state"


class _AccountStateCodec(codecs.Codec):
    def _dumps(self, obj: Any) -> bytes:
        return obj.to_json()

    def _loads(self, s: bytes) -> Any:
        return AccountState.from_json(s)


codecs.register(STATE_CODEC, _AccountStateCodec())
