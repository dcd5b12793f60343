"""Keep credentials out of everything gitbot writes: output, logs, errors, pull requests.

A ``Redactor`` knows the secrets of this run (tokens and passwords from the environment, auth
header values) and replaces them, wherever they occur, with ``***``; it also masks what looks like a
credential even when it does not know it: user:password in URLs, ``Authorization``-style headers,
bearer/basic values, GitHub token formats and ``token=``/``password=`` parameters. The CLI routes
every line it prints, the documents it writes and the logging of the libraries through one; the
pull-request path redacts titles, bodies and comments before they leave the machine.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Callable, Iterable, Mapping, TextIO

MASK = "***"
MIN_SECRET = 6  # shorter values are not treated as secrets: replacing "team" everywhere would garble output

# environment variables whose values are credentials
SECRET_ENV = ("GITBOT_PROMETHEUS_TOKEN", "GITBOT_PROMETHEUS_PASSWORD", "GITBOT_GITHUB_TOKEN", "GITHUB_TOKEN")
# and every variable whose name starts with one of these (per-host chart-source passwords)
SECRET_ENV_PREFIXES = ("GITBOT_HELM_PASSWORD",)
# header names whose values are credentials (lower case; any header containing one of these words)
_SECRET_HEADER_WORDS = ("authorization", "token", "secret", "password", "api-key", "apikey", "cookie", "key")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(://)[^/@\s:]+(?::[^/@\s]*)?@"), r"\1" + MASK + "@"),  # https://user:pass@host
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-api-key|api-key|private-token|cookie)([\"']?\s*[:=]\s*[\"']?)"
                r"(?:(bearer|basic|token)\s+)?[^\s\"',;}]+"),
     lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) + ' ' if m.group(3) else ''}{MASK}"),  # type: ignore[list-item]
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b"), MASK),
    (re.compile(r"(?i)([?&](?:access_token|token|password|api_key)=)[^&\s\"']+"), r"\1" + MASK),
)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(sorted(self._secrets))

    def add(self, secrets: Iterable[str | None]) -> None:
        self._secrets.update(s for s in secrets if s and len(s) >= MIN_SECRET)

    def add_headers(self, headers: Mapping[str, str]) -> None:
        """The values of credential-like headers (``Authorization``, ``X-Api-Key`` ...)."""
        self.add(value for name, value in headers.items() if any(word in name.lower() for word in _SECRET_HEADER_WORDS))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Redactor:
        env = os.environ if environ is None else environ
        redactor = cls(env.get(name, "") for name in SECRET_ENV)
        redactor.add(value for name, value in env.items() if name.startswith(SECRET_ENV_PREFIXES))
        headers: dict[str, str] = {}
        for line in env.get("GITBOT_PROMETHEUS_HEADERS", "").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
        redactor.add_headers(headers)
        return redactor

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)  # type: ignore[arg-type]
        return text

    def document(self, value: Any) -> Any:
        """Every string in a JSON-like document, redacted (keys too)."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.document(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.document(v) for v in value)
        return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message (with its arguments merged in)."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def redacted_logging(redactor: Redactor, stream: TextIO) -> Callable[[], None]:
    """Route the libraries' warnings to ``stream``, redacted, for one command; returns the undo.

    PyGithub logs each retry at INFO through a handler of its own: it is kept to warnings, and its
    handler gets the same filter."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("gitbot: %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    logging.getLogger().addHandler(handler)
    pygithub = logging.getLogger("github")
    level, propagate = pygithub.level, pygithub.propagate
    pygithub.setLevel(logging.WARNING)
    pygithub.propagate = False
    filters = [(h, RedactingFilter(redactor)) for h in pygithub.handlers]
    for h, f in filters:
        h.addFilter(f)

    def undo() -> None:
        logging.getLogger().removeHandler(handler)
        pygithub.setLevel(level)
        pygithub.propagate = propagate
        for h, f in filters:
            h.removeFilter(f)

    return undo
