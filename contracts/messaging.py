"""messaging events and RPC payloads (filled in by the messaging service)."""
