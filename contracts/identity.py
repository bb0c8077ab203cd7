"""identity events and RPC payloads."""
