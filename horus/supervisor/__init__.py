"""The supervisor: a stateless JSON-RPC 2.0 API over HTTP in front of the Redis transport (docs/api.md)."""
