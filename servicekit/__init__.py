"""Runtime shared by every service: configuration, database unit of work,
transactional outbox, idempotent event handlers, metrics, health and logging."""
