"""OpenStack notifications: the RabbitMQ consumer, envelope parsing, the event catalog, traits,
the events store and failure summaries."""
