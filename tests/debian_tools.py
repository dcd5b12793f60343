"""Debian packages as test prerequisites: find a tool's binaries, install its package once through
``apt-get`` when they are missing, and skip (or, where it must run, fail) the tests that need it.

The harnesses that run real servers (``prometheus_harness``: Debian's ``prometheus``;
``chart_servers``: ``docker-registry``) each describe their tool with a :class:`DebianTool`, so
the install, its opt-out (``GITBOT_NO_APT=1``), the once-per-process cache and the skip-or-fail
rule behave the same everywhere. The same harnesses then run those binaries as servers on
127.0.0.1, which the helpers at the end share: a free port, waiting until the server answers
(retrying on a port lost to another process), stopping it and quoting its log in errors.
Nothing here reaches beyond the machine except ``apt-get``.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

log = logging.getLogger(__name__)

APT_TIMEOUT = 900  # seconds for apt-get: a cold install on a slow mirror takes minutes, not hours


class DebianTool:
    """The binaries of a Debian package, installed on first need and cached for the process.

    ``require_env`` names the variable (``GITBOT_REQUIRE_...``) that CI sets to ``1`` so that a
    missing tool fails the tests that need it instead of letting them pass as skips.
    """

    def __init__(self, package: str, binaries: Sequence[str], require_env: str) -> None:
        self.package = package
        self.binaries = tuple(binaries)
        self.require_env = require_env
        self._what = "/".join(self.binaries)  # how the reasons name the binaries
        self._them = "them" if len(self.binaries) > 1 else "it"
        self._lock = threading.Lock()  # session fixtures may ask from several threads
        self._ensured: list[tuple[str, ...] | None] = []  # the cached result, once computed
        self._reason = f"{self._what} availability not checked yet"

    @property
    def reason(self) -> str:
        """Why :meth:`ensure` returned None (empty when it did not)."""
        return self._reason

    def which(self) -> tuple[str, ...] | None:
        """The paths of all the binaries on PATH, or None when any of them is missing."""
        found = tuple(shutil.which(binary) for binary in self.binaries)
        return tuple(path for path in found if path) if all(found) else None

    def ensure(self) -> tuple[str, ...] | None:
        """Paths of the binaries (in ``binaries`` order), installing the package once if needed.

        Returns None when they are missing and cannot be installed; :attr:`reason` then says why.
        The result is cached for the life of the process: an install is tried at most once, and
        every caller gets the same tuple.
        """
        with self._lock:
            if not self._ensured:
                found = self.which()
                if found is None:
                    self._reason = self._install()
                    found = self.which()
                    if found is None and not self._reason:
                        still = f"{self._what} are still" if len(self.binaries) > 1 else "it is still"
                        self._reason = f"apt-get installed {self.package!r} but {still} not on PATH"
                if found is not None:
                    self._reason = ""
                self._ensured.append(found)
            return self._ensured[0]

    def skip_or_fail(self, reason: str) -> NoReturn:
        """Skip the running test for ``reason``; fail it instead when ``require_env`` is ``1``,
        so a missing tool can never pass as a skip where the tests must run."""
        import pytest

        if os.environ.get(self.require_env) == "1":
            pytest.fail(f"{reason} ({self.require_env}=1)", pytrace=False)
        pytest.skip(reason)

    def _install(self) -> str:
        """Try ``apt-get install <package>``; an empty string on success, else why it failed."""
        what, them, package = self._what, self._them, self.package
        if os.environ.get("GITBOT_NO_APT") == "1":
            return f"{what} not on PATH and GITBOT_NO_APT=1 forbids installing {them}"
        if shutil.which("apt-get") is None:
            return f"{what} not on PATH and there is no apt-get to install {them}"
        prefix: list[str] = []
        if os.geteuid() != 0:
            if shutil.which("sudo") is None:
                return f"{what} not on PATH; not root and no sudo to install {them}"
            prefix = ["sudo", "-n"]  # never prompt: a test run has no one to type a password
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [*prefix, "apt-get", "install", "-y", "--no-install-recommends", package]
        log.warning("%s not found; running %s", what, " ".join(install))

        def run(command: list[str]) -> subprocess.CompletedProcess[str]:
            return subprocess.run(command, capture_output=True, text=True, timeout=APT_TIMEOUT, env=env,
                                  stdin=subprocess.DEVNULL, check=False)

        try:
            result = run(install)
            if result.returncode != 0:  # perhaps stale package lists
                run([*prefix, "apt-get", "update"])
                result = run(install)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"installing the Debian package {package!r} failed: {exc}"
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
            return f"installing the Debian package {package!r} failed: " + " | ".join(tail)
        stop_system_service(prefix, package)
        return ""


def stop_system_service(prefix: Sequence[str], service: str) -> None:
    """Stop and disable the system-wide ``service`` that installing its package may have started.

    The package was not installed before, so a running service is the install's doing, and it
    should not outlive the tests (Debian's prometheus takes :9090, its docker-registry listens on
    :5000 on every interface); the harnesses run their own servers on free ports. Neither systemd
    nor ``service`` may work in a container, so failures are ignored.
    """

    def run(*args: str) -> int:
        try:
            return subprocess.run([*prefix, *args], capture_output=True, timeout=60,
                                  stdin=subprocess.DEVNULL, check=False).returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1

    if Path("/run/systemd/system").is_dir() and shutil.which("systemctl"):
        if run("systemctl", "is-active", "--quiet", service) == 0:
            run("systemctl", "stop", service)
        run("systemctl", "disable", service)
    elif shutil.which("service") and Path(f"/etc/init.d/{service}").exists():
        if run("service", service, "status") == 0:
            run("service", service, "stop")
        if shutil.which("update-rc.d"):
            run("update-rc.d", service, "disable")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it), for a server the
    tests start; another process may still take it first, so callers retry on a failed bind."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- running the servers these packages install ---------------------------------------------------


class PortTaken(Exception):
    """A server exited because another process took its port between :func:`free_port` and its
    bind; starting it again on a new port is the cure."""


def wait_until_ready(process: subprocess.Popen[bytes], answers: Callable[[], bool], *, name: str, timeout: float,
                     log_path: Path, log_offset: int, error: type[Exception], not_ready: str = "not ready") -> None:
    """Poll ``answers`` every 50 ms until it says the server ``process`` serves.

    A server that exits instead raises :exc:`PortTaken` when it lost the race for its port (so the
    caller retries on another), else ``error`` with its exit status; one still not answering after
    ``timeout`` seconds raises ``error`` too. Both errors end with the log's tail, since that is
    where a server says what went wrong.
    """
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            if _lost_port_race(log_path, log_offset):
                raise PortTaken
            raise error(f"{name} exited with {process.returncode}:\n{read_log_tail(log_path)}")
        if answers():
            return
        if time.monotonic() > deadline:
            raise error(f"{name} {not_ready} after {timeout:.0f} s:\n{read_log_tail(log_path)}")
        time.sleep(0.05)


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """End a server process and reap it: SIGTERM, then SIGKILL if it is still there after 10 s,
    so that no server outlives the test (or session) that started it. None does nothing."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _lost_port_race(log_path: Path, offset: int) -> bool:
    """Whether a server that exited said "address already in use" in its log after ``offset``
    (where this run's output starts), i.e. it lost its port (see :exc:`PortTaken`)."""
    with open(log_path, "rb") as log_file:
        log_file.seek(offset)
        return "address already in use" in log_file.read().decode(errors="replace")


def read_log_tail(log_path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a server's log, for the errors that say why it did not start
    ("(no log)" when there is none to read)."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
