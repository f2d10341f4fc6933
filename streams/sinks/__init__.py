"""Where results leave besides Kafka: the Redis materialised view."""
