"""invitations events and RPC payloads (filled in by the invitations service)."""
