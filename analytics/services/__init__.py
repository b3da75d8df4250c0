"""Business logic of the analytics app: reports, retention cleanup, conversation recording."""
