"""Horus: signed jobs through a reliable Redis transport into prefork runners."""

__version__ = "0.1.0"
