"""`abm collect`: Segment's HTTP Tracking API, in front of `abm.segment.v1`.

Websites and services already send their analytics with Segment's libraries; pointed at
this server instead of api.segment.io (analytics.js's `apiHost`, an SDK's `host`, a
webhook destination's URL) they send here unchanged. Every call is checked, stripped of
email addresses and produced to the Segment topic keyed by person, where the workers
read it. The parts, one job each:

- `body`: a request's body read within Segment's size limits, and parsed;
- `auth`: the write key, from HTTP Basic or the body, against ABM_COLLECT_WRITE_KEYS;
- `calls`: one call made what Segment would store (context merged, messageId,
  receivedAt, clock skew), then redacted and validated into a record;
- `sender`: the producer, with its bound on unacknowledged calls;
- `metrics`: what `/metrics` reports;
- `server`: the routes, CORS and the status codes;
- `run`: starting, serving and a clean stop.
"""
