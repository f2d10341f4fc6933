"""`abm view`: the Redis view kept by a process of its own, from what the workers store.

The workers' tables are the truth and their changelog topics carry every change of them,
so the view is a function of the changelogs: this process reads them and writes Redis,
and the workers (unless started `--with-view`) write only Kafka. `process` is the
consumer and its writes, `metrics` what it reports.
"""
