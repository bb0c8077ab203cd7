"""Runtime shared by every service: configuration, database unit of work,
transactional outbox, idempotent event handlers, metrics, health and logging."""

import warnings

# eventlet announces its maintenance mode on import; nameko 2.14 requires it.
warnings.filterwarnings("ignore", message=".*Eventlet is deprecated.*")
