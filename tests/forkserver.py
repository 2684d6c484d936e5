"""Start the real CLI as a real process, without paying for its imports each time.

The crash and resume tests start `specter2` dozens of times and kill it with real signals.
Each fresh interpreter spends seconds importing torch, transformers and pyarrow before the
first line of the tool runs; on a 2-core machine that was most of the suite's time. Here
one server process imports them once, and every `spawn` forks it: the child is a separate
process with its own pid, its own stdin/stdout/stderr, the caller's environment and working
directory, and it runs `specter2_cli.cli.main()` exactly as the console script does. Signals,
exit codes, kill -9 and the files it leaves behave as with `python -m specter2_cli`.

What a fork cannot reproduce falls back to a fresh interpreter: an environment that differs
from the server's in a variable read at import time (HF_*, TRANSFORMERS_*, TORCH*, OMP_*, ...),
and every spawn when SPECTER2_TEST_EXEC=1 (run the suite that way to check the difference).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

PIPE = subprocess.PIPE
STDOUT = subprocess.STDOUT

# read once at import by the libraries the server preloads: a child cannot change them
_IMPORT_TIME_PREFIXES = (
    "HF_",
    "HUGGINGFACE",
    "TRANSFORMERS",
    "TOKENIZERS",
    "TORCH",
    "PYTORCH",
    "CUDA",
    "OMP_",
    "MKL",
    "OPENBLAS",
    "PYTHON",
    "LD_",
    "ARROW",
)

_SERVER = r"""
import json, os, select, signal, socket, sys

# the slow imports, once; no torch op may run here (a forked OpenMP pool hangs children)
import numpy, pyarrow, pyarrow.parquet, torch, transformers, tokenizers  # noqa: F401
import specter2_cli.cli
from specter2_cli.cli import main as cli_main
for name in ("specter2_cli.pipeline.job", "specter2_cli.pipeline.rank", "specter2_cli.model.loader",
             "specter2_cli.model.fused", "specter2_cli.inputs.stream", "specter2_cli.merge",
             "specter2_cli.status"):
    try:
        __import__(name)
    except Exception:
        pass

path = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(64)
sys.stdout.write("ready\n")
sys.stdout.flush()
waiting = {}  # pid -> connection that gets its exit status


def child(conn, req, fds):
    srv.close()
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP,
              signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    os.dup2(fds[0], 0)
    os.dup2(fds[1], 1)
    os.dup2(fds[2], 2)
    for fd in fds:
        if fd > 2:
            os.close(fd)
    conn.close()
    os.environ.clear()
    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    sys.argv = ["specter2", *req["argv"]]
    code = 0
    try:
        cli_main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback
        traceback.print_exc()
        code = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


while True:
    r, _, _ = select.select([srv], [], [], 0.05)
    if r:
        conn, _ = srv.accept()
        msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
        req = json.loads(msg)
        pid = os.fork()
        if pid == 0:
            child(conn, req, fds)
        for fd in fds:
            os.close(fd)
        conn.sendall(f"pid {pid}\n".encode())
        waiting[pid] = conn
    while waiting:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        conn = waiting.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()
"""


class _Server:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="specter2-fork-")
        self.path = os.path.join(self.dir, "s")
        self.env = dict(os.environ)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, self.path],
            stdout=subprocess.PIPE,
            text=True,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError(f"the fork server did not start: {line!r}")
        atexit.register(self.close)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_server: _Server | None = None


def _get_server() -> _Server:
    global _server
    if _server is None or _server.proc.poll() is not None:
        _server = _Server()
    return _server


class Spawned:
    """The part of subprocess.Popen the tests use, for a process forked by the server."""

    def __init__(self, args: list[str], conn: socket.socket, stdout: IO[Any] | None) -> None:
        self.args = args
        self._conn = conn
        self._buf = b""
        self.stdout = stdout
        self.returncode: int | None = None
        self.pid = int(self._line(timeout=60).split()[1])

    def _line(self, timeout: float | None) -> str:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([self._conn], [], [], left)
            if not r:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            chunk = self._conn.recv(4096)
            if not chunk:
                raise RuntimeError("the fork server went away")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            self.returncode = int(self._line(timeout).split()[1])
            self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.wait(timeout=0)
            except subprocess.TimeoutExpired:
                return None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[Any, None]:
        out = self.stdout.read() if self.stdout is not None else None
        self.wait(timeout)
        if self.stdout is not None:
            self.stdout.close()
        return out, None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(15)

    def kill(self) -> None:
        self.send_signal(9)

    def __enter__(self) -> Spawned:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.stdout is not None:
            self.stdout.close()
        self.wait()


def _forkable(env: dict[str, str], server_env: dict[str, str]) -> bool:
    if os.environ.get("SPECTER2_TEST_EXEC") == "1":
        return False
    keys = {k for k in (*env, *server_env) if k.upper().startswith(_IMPORT_TIME_PREFIXES)}
    return all(env.get(k) == server_env.get(k) for k in keys)


def spawn(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    stdout: Any = PIPE,
    stderr: Any = STDOUT,
    text: bool = True,
) -> Any:
    """`specter2 *argv` as a new process: forked from the preloaded server when that is exact."""
    env = dict(os.environ if env is None else env)
    cwd = str(cwd or os.getcwd())
    server = _get_server()
    if not _forkable(env, server.env):
        return subprocess.Popen(
            [sys.executable, "-m", "specter2_cli", *argv],
            env=env,
            cwd=cwd,
            stdout=stdout,
            stderr=stderr,
            text=text,
        )
    closers: list[int] = []
    reader: IO[Any] | None = None
    if stdout == PIPE:
        r, w = os.pipe()
        reader = os.fdopen(r, "r" if text else "rb")
        out_fd = w
        closers.append(w)
    elif stdout is None:
        out_fd = 1
    else:
        out_fd = stdout if isinstance(stdout, int) else stdout.fileno()
    if stderr == STDOUT:
        err_fd = out_fd
    elif stderr == PIPE:
        raise ValueError("spawn: stderr=PIPE is not supported; use STDOUT or a file")
    elif stderr is None:
        err_fd = 2
    else:
        err_fd = stderr if isinstance(stderr, int) else stderr.fileno()
    in_fd = os.open(os.devnull, os.O_RDONLY)
    closers.append(in_fd)
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(server.path)
    req = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
    socket.send_fds(conn, [req], [in_fd, out_fd, err_fd])
    for fd in closers:
        os.close(fd)
    return Spawned(["specter2", *argv], conn, reader)
