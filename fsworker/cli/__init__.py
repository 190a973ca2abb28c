"""Command-line interface: ``fsworker <command> ...``."""
