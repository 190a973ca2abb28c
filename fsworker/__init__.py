"""fsworker: missed-call auto-callback for FreeSWITCH."""

__version__ = "0.1.0"
