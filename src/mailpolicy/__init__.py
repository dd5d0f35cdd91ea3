"""mailpolicy: a self-hosted email security policy service."""

__version__ = "0.1.0"
