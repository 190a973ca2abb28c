"""Event Socket (ESL): the sans-I/O protocol (proto/) and the gevent connection."""
