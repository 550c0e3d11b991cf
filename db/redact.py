"""The one place credentials are hidden: in a database URL, in any text that may hold URLs
(a log line, a JSON document, a driver's error message), and in a value whose key names a
secret.

What counts as a credential, wherever it appears:

- the password of a URL's user part, ``scheme://user:PASSWORD@host`` — up to the *last*
  ``@`` before the query, so an unencoded ``p@ss`` is hidden whole, and also with an empty
  user name (``postgresql://:PASSWORD@host``);
- a ``password=`` parameter, in a URL's query (``?password=…``, ``&password=…``) or in a
  libpq keyword string (``host=db password=… dbname=app``);
- when the caller knows the URL, its password as such, raw and percent-encoded, wherever
  else it shows up (a driver may quote it back in an error message).

Redaction replaces the secret with ``***`` and keeps everything else, so the line still
says which host, port, user and database were meant.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

_USERINFO_PASSWORD = re.compile(r"(://[^:/@?#\s]*:)[^?#\s]*@")
"""``://user:`` then the password up to the last ``@`` before the query or a space (an
unencoded ``/`` in a password is hidden too: at worst a path is hidden with it)."""

_PASSWORD_PARAM = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^&#\s]*)", re.IGNORECASE)
"""``password=…`` in a query string or a libpq keyword string (quoted or not)."""

SECRET_KEYS = ("password", "secret", "token", "api_key", "apikey")
"""Key names whose values are hidden whole (:func:`redact_value`)."""


def redact(url: Any) -> str:
    """A database URL (text or SQLAlchemy ``URL``) safe for logs and messages;
    ``None`` is the embedded default."""
    if url is None:
        return "<embedded>"
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=True) if callable(render) else str(url)
    return redact_text(text)


def redact_text(text: str, url: Any = None) -> str:
    """``text`` with every credential it holds hidden (see the module docstring); with
    ``url``, that URL's password is also hidden wherever it appears in ``text``."""
    out = _USERINFO_PASSWORD.sub(r"\1" + MASK + "@", text)
    out = _PASSWORD_PARAM.sub(r"\1" + MASK, out)
    for secret in _known_passwords(url):
        out = out.replace(secret, MASK)
    return out


def redact_value(key: str, value: Any) -> Any:
    """A configuration value safe to show: hidden whole when its key names a secret, else
    as :func:`redact_data`."""
    if any(w in str(key).lower() for w in SECRET_KEYS):
        return MASK
    return redact_data(value)


def redact_data(data: Any) -> Any:
    """``data`` (dicts, lists, text) with every credential in its text hidden; keys and
    other values kept. Redact a document before serializing it: in JSON text an escaped
    quote could end a match early, and a match could swallow a closing quote."""
    if isinstance(data, str):
        return redact_text(data)
    if isinstance(data, dict):
        return {k: redact_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    return data


def _known_passwords(url: Any) -> list[str]:
    if url is None:
        return []
    password = getattr(url, "password", None)
    if password is None and not hasattr(url, "render_as_string"):
        from urllib.parse import urlsplit

        try:
            password = urlsplit(str(url)).password
        except ValueError:  # an unparsable port: find it by hand
            m = re.search(r"://[^:/@]*:(.*)@", str(url))
            password = m.group(1) if m else None
    if not password:
        return []
    from urllib.parse import quote, unquote

    found = {str(password), unquote(str(password)), quote(str(password), safe="")}
    # Longest first, so a password that contains another form of itself is hidden whole.
    return sorted((p for p in found if p), key=len, reverse=True)
