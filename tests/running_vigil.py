"""A real `vigil run` (pipeline and dashboard) in a child process, and the HTTP clients the hostile tests use."""

from __future__ import annotations

import os
import queue
import re
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

_DASHBOARD_URL = re.compile(r"dashboard on (http://\S+)")
START_TIMEOUT_S = 120


@dataclass
class RunningVigil:
    url: str
    host: str
    port: int
    config: Path
    database: Path
    env: dict[str, str]
    """What the run's environment adds (the config's `${ENV}` values): CLI calls on its config need it too."""
    process: subprocess.Popen
    log: list[str]
    """Every line the run has written to stderr so far (filled by a reader thread)."""

    def log_text(self) -> str:
        return "\n".join(self.log)


def vigil_cli(config: Path, env: dict[str, str], *args: str, password: str | None = None) -> None:
    """`vigil ARGS -c config` with `env` (and the password a user command reads) added to the environment."""
    extra = env | ({"VIGIL_PASSWORD": password} if password is not None else {})
    subprocess.run([sys.executable, "-m", "vigil", *args, "-c", str(config)], env=os.environ | extra, check=True,
                   capture_output=True, timeout=60)


@contextmanager
def running_vigil(config: Path, database: Path, env: dict[str, str]) -> Iterator[RunningVigil]:
    """`vigil run -c config` until the block ends (SIGTERM, then a kill after 30 s)."""
    process = subprocess.Popen([sys.executable, "-m", "vigil", "run", "-c", str(config)], env=os.environ | env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def read() -> None:
        for line in process.stderr:
            log.append(line.rstrip("\n"))
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        url = _wait_for_url(lines, log)
        host, port = url.removeprefix("http://").rsplit(":", 1)
        yield RunningVigil(url, host, int(port), config, database, env, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for_url(lines: queue.Queue[str | None], log: list[str]) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError("vigil run ended before serving the dashboard:\n" + "\n".join(log[-30:]))
        if found := _DASHBOARD_URL.search(line):
            return found.group(1)
    raise RuntimeError("vigil run did not serve the dashboard in time:\n" + "\n".join(log[-30:]))


def logged_in(url: str, name: str, password: str) -> requests.Session:
    """A requests session logged in as `name`, with the CSRF token as its default header."""
    session = requests.Session()
    session.headers["X-CSRF-Token"] = csrf_of(session, url)
    answer = session.post(f"{url}/login", data={"name": name, "password": password,
                                                 "csrf_token": session.headers["X-CSRF-Token"]},
                          allow_redirects=False, timeout=30)
    if answer.status_code != 303:
        raise AssertionError(f"login as {name} failed: {answer.status_code}")
    session.headers["X-CSRF-Token"] = csrf_of(session, url)
    return session


def csrf_of(session: requests.Session, url: str) -> str:
    """The CSRF token the session's current page carries (any page with a form has it)."""
    page = session.get(f"{url}/login", timeout=30).text
    if 'name="csrf_token"' not in page:
        page = session.get(f"{url}/alerts", timeout=30).text
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


class RawStreams:
    """Many raw HTTP connections held open at once: live-stream viewers, or idle sockets that send nothing.

    A background thread reads and discards whatever the server sends, as a browser would, so that streams
    do not back up; `status` is each connection's HTTP status (None until its headers arrived).
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._sockets: list[socket.socket] = []
        self._heads: dict[socket.socket, bytes] = {}
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._running = True
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def open_stream(self, host: str, port: int, path: str, cookie: str) -> socket.socket:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: vigil_session={cookie}\r\n\r\n"
        return self._open(host, port, request.encode())

    def open_idle(self, host: str, port: int, partial: bytes = b"") -> socket.socket:
        """A connection that sends `partial` (say, half a request line) and then nothing."""
        return self._open(host, port, partial)

    def statuses(self, sockets: list[socket.socket], timeout_s: float) -> list[int | None]:
        """Each socket's HTTP status, waiting up to `timeout_s` for all of them."""
        deadline = time.monotonic() + timeout_s
        with self._arrived:
            self._arrived.wait_for(lambda: all(b"\r\n" in self._heads.get(s, b"") for s in sockets),
                                   timeout=max(0.0, deadline - time.monotonic()))
            return [_status(self._heads.get(s, b"")) for s in sockets]

    def close(self, sockets: list[socket.socket] | None = None) -> None:
        with self._lock:
            for sock in list(self._sockets) if sockets is None else sockets:
                if sock in self._sockets:
                    self._selector.unregister(sock)
                    self._sockets.remove(sock)
                    sock.close()
            if sockets is None:
                self._running = False

    def _open(self, host: str, port: int, payload: bytes) -> socket.socket:
        sock = socket.create_connection((host, port), timeout=10)
        if payload:
            sock.sendall(payload)
        sock.setblocking(False)
        with self._lock:
            self._sockets.append(sock)
            self._heads[sock] = b""
            self._selector.register(sock, selectors.EVENT_READ)
        return sock

    def _read(self) -> None:
        while self._running:
            for key, _ in self._selector.select(timeout=0.05):
                sock = key.fileobj
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:  # closed by the test meanwhile
                    data = b""
                with self._arrived:
                    if not data:  # the server closed it: stop watching (epoll would report it forever)
                        if sock in self._sockets:
                            self._selector.unregister(sock)
                            self._sockets.remove(sock)
                    elif len(self._heads.get(sock, b"")) < 256:
                        self._heads[sock] = self._heads.get(sock, b"") + data[:256]
                    self._arrived.notify_all()


def _status(head: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return int(match.group(1)) if match else None
