"""Built-in runner types, registered under the ``horus.workers`` entry-point group."""
