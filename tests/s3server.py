"""A real S3-compatible server on loopback for the object-store tests: moto's standalone
server in its own process (real HTTP, no mocked client), and a fault proxy in front of it
that can answer with throttling, 5xx or auth errors, or cut a response body short.

Nothing here reaches the internet: AWS_ENDPOINT_URL points at 127.0.0.1 and the
credentials are fake.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, f"http://127.0.0.1:{port}"
        if proc.poll() is not None:
            raise RuntimeError("moto server exited at start")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto server did not start in 60 s")


@dataclass
class Fault:
    status: int = 503
    code: str = "SlowDown"
    cut_body: bool = False  # forward the headers and half the body, then close
    method: str = ""  # only requests with this method ("" any)
    path: str = ""  # only requests whose path contains this
    stall: bool = False  # take the request, forward nothing, answer nothing until released
    skip: int = 0  # let this many matching requests through first


@dataclass
class FaultProxy:
    """Forwards to moto; `faults` are consumed one per matching request."""

    upstream: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, signed
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    latency: float = 0.0  # seconds added to every request, like a store far away
    stalled: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for i, f in enumerate(self.faults):
                if (not f.method or f.method == method) and f.path in path:
                    if f.skip:
                        f.skip -= 1
                        return None
                    return self.faults.pop(i)
        return None


def start_proxy(upstream: str) -> tuple[ThreadingHTTPServer, FaultProxy]:
    state = FaultProxy(upstream)
    host, port = upstream.rsplit("//", 1)[1].split(":")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            state.seen.append((self.command, self.path, "Authorization" in self.headers))
            if state.latency:
                time.sleep(state.latency)
            fault = state.take(self.command, self.path)
            if fault is not None and fault.stall:
                state.stalled.set()
                state.release.wait(60)
                self.close_connection = True
                return
            if fault is not None and not fault.cut_body:
                xml = (
                    f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{fault.code}</Code>"
                    f"<Message>injected {fault.code}</Message></Error>"
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                self.wfile.write(xml if self.command != "HEAD" else b"")
                return
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = self.headers.get("Host", f"{host}:{port}")
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            length = r.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if fault is not None and fault.cut_body:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, state


@dataclass
class S3:
    endpoint: str  # moto itself
    proxy: FaultProxy  # the fault proxy in front of it

    def env(self, via_proxy: bool = False) -> dict[str, str]:
        return {**FAKE_ENV, "AWS_ENDPOINT_URL": self.proxy.url if via_proxy else self.endpoint}

    def bucket(self) -> str:
        """A new empty bucket (tests share the server, not buckets)."""
        import boto3

        name = f"t-{uuid.uuid4().hex[:12]}"
        with pytest.MonkeyPatch.context() as mp:
            for k, v in self.env().items():
                mp.setenv(k, v)
            boto3.session.Session().client("s3").create_bucket(Bucket=name)
        return name


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3]:
    pytest.importorskip("boto3")
    pytest.importorskip("moto.server")
    proc, endpoint = start_moto()
    server, proxy = start_proxy(endpoint)
    try:
        yield S3(endpoint, proxy)
    finally:
        server.shutdown()
        proc.kill()
        proc.wait()


@pytest.fixture
def s3env(s3_server: S3, monkeypatch: pytest.MonkeyPatch) -> S3:
    """The server's endpoint and fake credentials in this test's environment."""
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    s3_server.proxy.faults.clear()
    s3_server.proxy.stalled.clear()
    s3_server.proxy.release.clear()
    return s3_server
