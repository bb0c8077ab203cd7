"""The admin and learner web console: its own process (waitress, port 8080), a
client of the gateway's public HTTP API only (no RPC, no database). See docs/console.md."""
