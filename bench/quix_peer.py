"""peer_quix: a no-op Quix Streams app over the input topics, the framework a user might
pick instead of Faust. Run by the harness with the interpreter of its own virtualenv
(`make bench-quix-env`): Quix Streams pins pydantic below the version this project pins,
so it cannot share our environment. It imports nothing of ours; the harness passes the
broker, group and topics in the environment. Reports like bench/peers.py: events seen,
first and latest arrival, and its CPU time, to a JSON file twice a second (off the event
path).

    BENCH_BROKER=host:port BENCH_GROUP=g BENCH_TOPICS=a,b BENCH_REPORT=file python quix_peer.py
"""

import json
import os
import threading
import time
from pathlib import Path

from quixstreams import Application

REPORT = Path(os.environ["BENCH_REPORT"])
seen = {"count": 0, "first": 0.0, "last": 0.0}


def count(_value: bytes) -> None:
    seen["count"] += 1
    seen["last"] = time.monotonic()
    if not seen["first"]:
        seen["first"] = seen["last"]


def report() -> None:
    while True:
        REPORT.write_text(json.dumps({**seen, "cpu": time.process_time()}))
        time.sleep(0.5)


def main() -> None:
    app = Application(
        broker_address=os.environ["BENCH_BROKER"],
        consumer_group=os.environ["BENCH_GROUP"],
        auto_offset_reset="earliest",
        auto_create_topics=False,
        use_changelog_topics=False,
        loglevel="WARNING",
    )
    for name in os.environ["BENCH_TOPICS"].split(","):
        topic = app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        app.dataframe(topic).update(count)
    threading.Thread(target=report, daemon=True).start()
    app.run()


if __name__ == "__main__":
    main()
