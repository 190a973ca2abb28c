"""The Event Socket protocol without I/O: framing and parsing (parser, frames), command
builders with escaping (commands), the wire constants, back-off policy and errors.

Rules: bytes in, frames out; no sockets, no gevent. Depends only on core.errors and
core.numbers.
"""
