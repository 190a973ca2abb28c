"""The pure core: values, rules, schedules, planning, strategies, the detector, prompts
and the decisions the services act on.

Rules: no I/O. Nothing here imports gevent, SQLAlchemy, psycopg2, greenswitch, sockets
or HTTP (import-linter holds it: `make lint`); everything is a function of its
arguments (rules, call, time), so it tests without a switch or a database.
"""
