"""Osiris: a structured document store on Redis, for Rhai scripts (``osiris.model``) and Python applications."""
