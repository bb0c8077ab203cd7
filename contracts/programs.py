"""programs events and RPC payloads (filled in by the programs service)."""
