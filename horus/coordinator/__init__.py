"""The coordinator: durable DAG workflows (chain, group, chord) dispatched through the supervisor."""
