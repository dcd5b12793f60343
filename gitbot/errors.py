"""Error types and the exit codes they map to.

The CLI has one error handler (``gitbot.cli``) that turns these into a one-line message on stderr and
a documented exit code. Stages below the CLI raise them; they never print or exit.
"""

from __future__ import annotations

import re

EXIT_OK = 0
EXIT_CHANGES = 1  # proposals found and --fail-on-changes given
EXIT_INPUT = 2  # usage or input error (bad option, unreadable config, metrics file, catalog ...)
EXIT_INTERNAL = 3  # a bug in gitbot
EXIT_SOURCE = 4  # the usage source is unavailable: Prometheus unreachable, timing out or answering errors
EXIT_PUBLISH = 5  # git or GitHub refused: push rejected, bad credentials, missing permission, rate limited
# partial: some render targets failed (a chart that cannot be pulled, a root that does not build: the plan
# covers the rest; --allow-partial makes that 0), or `gitbot pr` could not publish some scopes' pull
# requests or the dashboard issue (each says why; the other scopes were done; --allow-partial does not
# cover this: a refusal on GitHub needs someone to act)
EXIT_PARTIAL = 6


class GitbotError(Exception):
    """Base class. ``str(error)`` is the one-line message shown to the user."""

    exit_code = EXIT_INTERNAL


class InputError(GitbotError):
    """The user's input (a file, the config, an option value) cannot be used."""

    exit_code = EXIT_INPUT


class SourceUnavailable(GitbotError):
    """The metrics server cannot be used right now (down, timing out, HTTP errors): worth a retry."""

    exit_code = EXIT_SOURCE


class PublishError(GitbotError):
    """git or GitHub refused to take the proposal (auth, permissions, a rejected push, rate limits)."""

    exit_code = EXIT_PUBLISH


class SourceError(InputError):
    """One source file or render target is unusable; the run skips it and goes on.

    ``path`` is repository-relative; ``line`` is 1-based when known.
    """

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.detail = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


def type_name(data: object) -> str:
    """How a message names the type of a parsed YAML value: ``a mapping``, ``a list``, ``nothing`` ..."""
    if data is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(data), type(data).__name__
    )


_URL_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def redact_urls(text: str) -> str:
    """Credentials inside URLs (``https://user:TOKEN@host``) replaced by ``***``, wherever they occur."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)
