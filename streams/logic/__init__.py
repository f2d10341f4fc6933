"""Pure decision logic: no Kafka, no Redis, no clocks. Live agents and replay both call it."""
