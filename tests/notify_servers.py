"""Real servers for the notification tests: a Mosquitto broker, an MQTT subscriber, an HTTP receiver."""

from __future__ import annotations

import contextlib
import json
import os
import socket as socket_module
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import paho.mqtt.client as paho

from tests.rtsp import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Mosquitto:
    """Debian's mosquitto on 127.0.0.1 and a free port, anonymous, in memory; can be killed and started again on
    the same port (retained messages do not survive a kill: persistence is off)."""

    def __init__(self, folder: Path, port: int | None = None, *, users: dict[str, str] | None = None,
                 tls: bool = False) -> None:
        self.port = port or free_port()
        self.config = folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:
            lines.append("user root")  # as root it would switch to `mosquitto`, who cannot read the test's folder
        if users:
            passwords = folder / "mosquitto.passwd"
            passwords.touch(mode=0o600)
            for user, password in users.items():
                subprocess.run(["mosquitto_passwd", "-b", str(passwords), user, password], check=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        self.ca_file: Path | None = None
        if tls:
            self.ca_file = folder / "broker.crt"
            key = folder / "broker.key"
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(key), "-out", str(self.ca_file)], check=True, capture_output=True)
            lines += [f"certfile {self.ca_file}", f"keyfile {key}"]
        self.config.write_text("\n".join(lines) + "\n")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.ca_file else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 10.0) -> Mosquitto:
        """Start it and return once it says it is running (it logs that after opening its socket)."""
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        running = threading.Event()
        log: list[str] = []

        def read() -> None:
            for line in self.process.stderr:
                log.append(line)
                if " running" in line:
                    running.set()

        threading.Thread(target=read, daemon=True).start()
        if not running.wait(timeout_s):
            self.kill()
            raise RuntimeError(f"mosquitto did not start on port {self.port}: {''.join(log)[-500:]}")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.kill()


@dataclass
class Subscriber:
    """A paho client subscribed to `topics` that keeps every message, and says when a condition on them holds."""

    port: int
    topics: tuple[str, ...] = ("#",)
    messages: list[paho.MQTTMessage] = field(default_factory=list)
    arrived_at: list[float] = field(default_factory=list)
    """Unix time each message arrived."""
    user: tuple[str, str] | None = None
    ca_file: Path | None = None

    def __post_init__(self) -> None:
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-{id(self)}")
        if self.user is not None:
            self.client.username_pw_set(*self.user)
        if self.ca_file is not None:
            self.client.tls_set(ca_certs=str(self.ca_file))
        self.client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in self.topics])
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "the test subscriber did not subscribe"

    def _on_message(self, _client, _userdata, message: paho.MQTTMessage) -> None:
        with self._changed:
            self.messages.append(message)
            self.arrived_at.append(time.time())
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[list[paho.MQTTMessage]], bool], timeout_s: float = 30.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: predicate(self.messages), timeout_s), (
                f"{len(self.messages)} messages: {[m.topic for m in self.messages][-20:]}")

    def on(self, topic: str) -> list[paho.MQTTMessage]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def events(self) -> list[dict]:
        return [json.loads(m.payload) for m in self.on("vigil/events")]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    """Unix time it was received."""


class HttpReceiver:
    """An HTTP server on 127.0.0.1 that answers its first requests with the statuses of `answers`, then 503 to
    the next `fail_first`, then 200, unless `answer` (status, reason) is set: then that. It keeps what it was sent
    (refused requests included)."""

    def __init__(self, fail_first: int = 0, answers: tuple[int, ...] = ()) -> None:
        self.fail_first = fail_first
        self.answers = list(answers)
        self.answer: tuple[int, str] | None = None
        self.requests: queue.Queue[Received] = queue.Queue()
        """Those answered 200."""
        self.answered: list[tuple[int, Received]] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = Received(self.path, dict(self.headers), body, time.time())
                with receiver._arrived:
                    status, reason = receiver._next_answer()
                    receiver.answered.append((status, request))
                    receiver._arrived.notify_all()
                self.send_response(status, reason)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if status == 200:
                    receiver.requests.put(request)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _next_answer(self) -> tuple[int, str | None]:
        if self.answer is not None:
            return self.answer
        if self.answers:
            return self.answers.pop(0), None
        if self.fail_first > 0:
            self.fail_first -= 1
            return 503, None
        return 200, None

    def take(self, count: int, timeout_s: float = 30.0) -> list[Received]:
        """The next `count` requests answered 200, waiting for each at most `timeout_s`."""
        return [self.requests.get(timeout=timeout_s) for _ in range(count)]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """The first `count` requests, whatever their answers, once they have arrived."""
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.answered) >= count, timeout_s), self.answered
            return [request for _, request in self.answered[:count]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TcpGate:
    """A TCP relay on a port of its own to a broker's port. Closing it drops every relayed connection and refuses
    new ones until it is opened again: a test lets Vigil reconnect to a restarted broker only once its own
    subscriber is back, so that it sees every message. The broker itself is really killed and restarted."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._open = threading.Event()
        self._open.set()
        self._sockets: list = []
        self._lock = threading.Lock()
        self._listener = socket_module.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._open.clear()
        with self._lock:
            for connection in self._sockets:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket_module.SHUT_RDWR)
                connection.close()
            self._sockets.clear()

    def open(self) -> None:
        self._open.set()

    def _accept(self) -> None:
        while True:
            client, _ = self._listener.accept()
            if not self._open.is_set():
                client.close()
                continue
            try:
                upstream = socket_module.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source, sink) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket_module.SHUT_RDWR)
