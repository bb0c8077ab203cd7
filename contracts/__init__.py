"""What services and the gateway agree on: the event envelope, event and RPC
payload schemas, and error codes. No behaviour lives here."""
