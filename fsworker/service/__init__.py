"""The running service: wiring (app), the dispatcher and call flows, lost-call intake,
re-planning, leg tracking and leg search, webhooks, metrics and the health endpoint.

Rules: gevent is allowed here (and in esl.connection, store.engine); decisions are
taken by pure functions of fsworker.core and only applied here.
"""
