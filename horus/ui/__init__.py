"""The operator's dashboard: static pages served by the supervisor under ``/ui`` (docs/operations.md)."""
