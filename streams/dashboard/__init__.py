"""The live dashboard: a page served by the worker, fed from Redis and the broker only."""
