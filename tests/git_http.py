"""A git server over smart HTTP on 127.0.0.1, for tests: ``git http-backend`` behind a small HTTP
server that demands basic auth and records the credentials of every request.

GitHub takes a token as basic auth (``x-access-token:<token>``); this server accepts exactly the
tokens it is given, answers 401 to anything else (git then fails: there is no prompt in tests), and
lets a test see which token each request carried.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class GitRequest:
    method: str
    path: str  # with the query string
    token: str | None  # the basic-auth password (the token), None without credentials


class GitHttpServer:
    """Serves the bare repositories under ``root`` at ``http://127.0.0.1:<port>/<name>.git``."""

    def __init__(self, root: Path, tokens: set[str]) -> None:
        self.root = root
        self.tokens = tokens
        self.requests: list[GitRequest] = []
        backend = shutil.which("git")
        assert backend is not None, "git is needed"
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                token = _token(self.headers.get("Authorization"))
                server.requests.append(GitRequest(self.command, self.path, token))
                if token not in server.tokens:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                env = {
                    "PATH": os.environ.get("PATH", ""), "GIT_PROJECT_ROOT": str(server.root), "GIT_HTTP_EXPORT_ALL": "1",
                    "PATH_INFO": path, "QUERY_STRING": query, "REQUEST_METHOD": self.command, "REMOTE_USER": "x-access-token",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                }
                result = subprocess.run([backend, "http-backend"], input=body, env=env, capture_output=True, timeout=60, check=False)
                head, _, payload = result.stdout.partition(b"\r\n\r\n")
                status = 200
                headers: list[tuple[str, str]] = []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.strip().split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _token(header: str | None) -> str | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header.split(None, 1)[1]).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[2] or None


def basic(token: str) -> str:
    """The header ``actions/checkout`` writes for a token."""
    return "AUTHORIZATION: basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
