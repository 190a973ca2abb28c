"""Exceptions of the ESL layer, one per failure a caller can act on.

Rules: ``RemoteProtocolError`` means the peer sent bytes we cannot frame (drop the link
and reconnect); ``LocalProtocolError`` means *we* were asked to send something the
protocol cannot carry (a bug or hostile input on our side: never retry it).
Connection failures are ``ESLConnectionError`` subclasses; every pending waiter gets
one when the link drops.
"""

from __future__ import annotations

from fsworker.core.errors import FsworkerError, ValidationError


class ESLError(FsworkerError):
    """Root of ESL-layer errors."""


class ProtocolError(ESLError):
    """Bytes on the wire do not follow the ESL framing rules."""


class RemoteProtocolError(ProtocolError):
    """The switch (or whatever is on the other end) sent malformed data."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        self.offset = offset
        super().__init__(message if offset is None else f"{message} (stream offset {offset})")


class FrameTooLargeError(RemoteProtocolError):
    """A frame's headers or body exceed the parser's size cap."""


class TooManyHeadersError(RemoteProtocolError):
    """An event carries more headers than the parser's cap. Unlike every other remote
    error the stream stays in sync: the parser skipped the whole frame, so the caller
    may drop this one event and read on (a caller that does not know this subclass
    drops the link, which is safe too)."""

    def __init__(self, *, count: int, limit: int, size: int, offset: int | None = None) -> None:
        self.count = count
        self.limit = limit
        self.size = size
        super().__init__(
            f"event of {size} bytes carries at least {count} headers, over the cap of {limit} headers",
            offset,
        )


class LocalProtocolError(ProtocolError, ValidationError):
    """A command we were asked to build cannot be sent safely (bad argument)."""


class ESLConnectionError(ESLError):
    """The link to the switch is down, was lost, or could not be made."""


class NotConnectedError(ESLConnectionError):
    """A command was attempted while there is no authenticated link."""


class ConnectionLostError(ESLConnectionError):
    """The link dropped while this command (or bgapi job) was waiting."""


class AuthenticationError(ESLConnectionError):
    """The switch refused our password (`-ERR invalid`)."""


class CommandTimeoutError(ESLError):
    """No reply (or no BACKGROUND_JOB) arrived within the command's timeout."""


class CommandError(ESLError):
    """The switch answered a command with `-ERR ...`."""

    def __init__(self, command: str, reply: str) -> None:
        self.command = command
        self.reply = reply
        super().__init__(f"{command!r} failed: {reply}")
