"""How a typed control-plane message crosses Locust's channel: built, checked, read.

``harness.config.messages`` says *what* the master and the workers tell each other; this
module is the codec under it. A message is a dataclass (:class:`Message`); ``to_msg()``
gives the msgpack-safe payload, ``from_msg()`` checks a payload from the wire against the
dataclass's field types and returns the typed object — or raises :class:`MessageError`
naming the message, the field and what was wrong. A sender cannot misspell a field (the
dataclass refuses unknown keywords); a receiver never indexes a raw dict.

The wire is Locust's ``runner.send_message`` / ``runner.register_message`` (msgpack over
ZMQ): tuples arrive as lists, ints may stand for floats, keys it does not know are ignored
(a newer peer may add fields). :func:`send` and :func:`listen` are the only ways the
harness touches that API; a malformed message is logged in **one line** (the first time
that message goes wrong that way; repeats are only counted, in :data:`MALFORMED`) and
ignored — never a traceback, never a dead message loop, and in a standalone run (where
Locust calls the listener inside ``send_message``) never an exception in the sender.
"""

from __future__ import annotations

import dataclasses
import logging
import types
import typing
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, Union

log = logging.getLogger("loadsim")

P = TypeVar("P", bound="Part")
M = TypeVar("M", bound="Message")

MALFORMED: Counter[str] = Counter()
"""Malformed messages received by this process, per message name (for tests and status)."""
_SEEN_MAX = 200
_seen: set[tuple[str, str]] = set()


class MessageError(ValueError):
    """A payload that is not the message it claims to be: ``where`` names the message and
    the field, ``what`` says what was wrong (one line, no traceback)."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where}: {what}")
        self.where, self.what = where, what


class Part:
    """A dataclass travelling inside a message (e.g. one grant): checked like one."""

    def to_msg(self) -> dict[str, Any]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]
        return {f.name: _wire(getattr(self, f.name)) for f in fields}

    @classmethod
    def from_msg(cls: type[P], data: Any, *, where: str | None = None) -> P:
        """The typed object for ``data`` (a payload from the wire).

        Raises:
            MessageError: not a map, a required field missing, a field of the wrong type,
                or the message's own check (:meth:`check`) failed.
        """
        where = str(where or getattr(cls, "NAME", cls.__name__))
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise MessageError(where, f"expected a map, got {_show(data)}")
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in data:
                kwargs[f.name] = _parse(hints[f.name], data[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise MessageError(where, f"missing field {f.name!r}")
        obj = cls(**kwargs)
        problem = obj.check()
        if problem:
            raise MessageError(where, problem)
        return obj

    def check(self) -> str | None:
        """What is wrong with a parsed message beyond its field types (``None``: nothing)."""
        return None


class Message(Part):
    """A control-plane message: a :class:`Part` with the ``NAME`` it travels under."""

    NAME: ClassVar[str]


# ------------------------------------------------------------------ Locust's channel


def send(runner: Any, message: Message, client_id: str | None = None) -> None:
    """Send ``message`` (a worker: to the master; the master: to ``client_id``, or to every
    worker when ``None``; standalone: to this process's own listener)."""
    if client_id is None:
        runner.send_message(message.NAME, message.to_msg())
    else:
        runner.send_message(message.NAME, message.to_msg(), client_id=client_id)


def listen(runner: Any, cls: type[M], handler: Callable[[M, str], None]) -> None:
    """``runner.register_message`` for ``cls``: ``handler(message, sender's node id)``
    gets the typed message; a malformed one is logged in one line and ignored."""
    runner.register_message(cls.NAME, listener(cls, handler))


def listener(cls: type[M], handler: Callable[[M, str], None]) -> Callable[..., None]:
    """The Locust listener :func:`listen` registers (exposed for tests)."""

    def on_message(environment: Any = None, msg: Any = None, **_: Any) -> None:
        node = str(getattr(msg, "node_id", None) or "local")
        message = parse(cls, getattr(msg, "data", None), sender=node)
        if message is not None:
            handler(message, node)

    on_message.__name__ = f"on_{cls.NAME}"
    return on_message


def parse(cls: type[M], data: Any, *, sender: str = "?") -> M | None:
    """``cls.from_msg(data)``, or ``None`` after logging a malformed payload in one line."""
    try:
        return cls.from_msg(data)
    except MessageError as exc:
        malformed(cls.NAME, sender, exc)
        return None


def malformed(name: str, sender: str, exc: MessageError) -> None:
    """Count a malformed message; log it (one line) the first time it goes wrong this way."""
    MALFORMED[name] += 1
    key = (name, str(exc))
    if key in _seen:
        log.debug("malformed %s message from %s ignored: %s", name, sender, exc.what)
        return
    if len(_seen) < _SEEN_MAX:
        _seen.add(key)
    log.warning("malformed %s message from %s ignored: %s (repeats counted, not logged)",
                name, sender, exc)  # fmt: skip


# ------------------------------------------------------------------ field types


def _hints(cls: type) -> dict[str, Any]:
    cached = cls.__dict__.get("_wire_hints")
    if cached is None:
        cached = typing.get_type_hints(cls)
        cls._wire_hints = cached  # type: ignore[attr-defined]
    return cached


def _wire(value: Any) -> Any:
    if isinstance(value, Part):
        return value.to_msg()
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false"}


def _parse(tp: Any, value: Any, where: str) -> Any:
    """``value`` as type ``tp`` (the subset of types the messages use), else MessageError."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        for i, alt in enumerate(inner):  # ``X | Y``: the first that fits (e.g. int | str ids)
            try:
                return _parse(alt, value, where)
            except MessageError:
                if i == len(inner) - 1:
                    raise
        raise MessageError(where, f"expected none, got {_show(value)}")
    if origin is list or tp is list:
        if not isinstance(value, list | tuple):
            raise MessageError(where, f"expected a list, got {_show(value)}")
        (item,) = typing.get_args(tp) or (Any,)
        return [_parse(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise MessageError(where, f"expected a map, got {_show(value)}")
        args = typing.get_args(tp)
        if not args or args[1] is Any:
            return dict(value)
        return {k: _parse(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, Part):
        return tp.from_msg(value, where=where)
    ok = (
        isinstance(value, tp) and not (tp is int and isinstance(value, bool))
        if tp in (int, str, bool)
        else tp is float and isinstance(value, int | float) and not isinstance(value, bool)
    )
    if not ok:
        raise MessageError(where, f"expected {_NAMES.get(tp, tp)}, got {_show(value)}")
    return float(value) if tp is float else value


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"
