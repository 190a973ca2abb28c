"""A webhook receiver on 127.0.0.1 that answers one byte at a time, slowly: the slow
neighbour of issue 13 item 4. Each request (its attempt header and arrival time) is
recorded; the answer is a complete "200 OK" when it finally arrives."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@dataclass
class Seen:
    at: float
    attempt: str
    path: str


class Dripper:
    def __init__(self, every_s: float = 1.5, tls: ssl.SSLContext | None = None) -> None:
        self.every_s = every_s
        self.tls = tls
        self.requests: list[Seen] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.tls is not None:
            try:
                conn.settimeout(10)
                conn = self.tls.wrap_socket(conn, server_side=True)
            except OSError:
                conn.close()
                return
        with conn:
            conn.settimeout(30)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                headers = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:] if ":" in h)}
                with self.lock:
                    self.requests.append(Seen(at=time.monotonic(), attempt=headers.get("x-fsworker-attempt", ""),
                                              path=head[0].split(" ")[1]))
                for i in range(len(RESPONSE)):
                    if self.stopped.wait(self.every_s):
                        return
                    conn.sendall(RESPONSE[i:i + 1])
            except OSError:
                return  # the client gave up on us: that is the point

    def seen(self) -> list[Seen]:
        with self.lock:
            return list(self.requests)

    def close(self) -> None:
        self.stopped.set()
        self.sock.close()
