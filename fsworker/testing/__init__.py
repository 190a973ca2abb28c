"""Test doubles shipped with fsworker (the demo and `fsworker fake-switch` use them)."""
