"""The prefork worker engine: a master process and its children."""
