"""Event Socket (ESL) layer: sans-I/O parser, command builders, gevent connection, fake switch."""
