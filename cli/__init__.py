"""The ``horus`` command line (typer)."""
