"""The worker's Redis connections pack commands with hiredis: the bytes on the wire must
be exactly what redis-py's own packer makes, for every argument type the code sends."""

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection, SSLConnection

from streams.clients.redis import async_redis
from streams.config import Settings

arguments = st.one_of(
    st.text(),
    st.binary(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
)
commands = st.sampled_from(["HSET", "ZADD", "XADD", "EVALSHA", "CONFIG GET", b"SCRIPT LOAD"])


def pool_class(url: str) -> type:
    return async_redis(Settings(redis_url=url)).connection_pool.connection_class


@given(commands, st.lists(arguments, max_size=40))
def test_packed_bytes_equal_redis_pys(command, args):
    ours = pool_class("redis://127.0.0.1:1/0")()
    theirs = Connection()
    assert b"".join(ours.pack_command(command, *args)) == b"".join(
        theirs.pack_command(command, *args)
    )
    pipeline = [(command, *args), ("SET", "k", "v")]
    assert b"".join(ours.pack_commands(pipeline)) == b"".join(theirs.pack_commands(pipeline))


def test_the_url_still_chooses_the_transport():
    assert issubclass(pool_class("rediss://127.0.0.1:1/0"), SSLConnection)
    assert not issubclass(pool_class("redis://127.0.0.1:1/0"), SSLConnection)
