"""How a typed control-plane message crosses Locust's channel: built, checked, read.

``harness.config.messages`` says *what* the master and the workers tell each other; this
module is the codec under it. A message is a dataclass (:class:`Message`); ``to_msg()``
gives the msgpack-safe payload, ``from_msg()`` validates a payload from the wire against
the dataclass's field types with pydantic (strict: no ``"7"`` for an integer, no ``true``
for a number) and returns the typed object — or raises :class:`MessageError` naming the
message, the field and what was wrong. A sender cannot misspell a field (the dataclass
refuses unknown keywords); a receiver never indexes a raw dict.

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
import json
import logging
import types
import typing
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, Union

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

if TYPE_CHECKING:
    from locust.env import Environment
    from locust.rpc import Message as LocustMessage

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
    """A dataclass travelling inside a message (e.g. one grant): validated like one."""

    def to_msg(self) -> dict[str, Any]:
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # every Part is a dataclass
        return {f.name: _wire(getattr(self, f.name)) for f in fields}

    @classmethod
    def from_msg(cls: type[P], data: object, *, where: str | None = None) -> P:
        """The typed object for ``data`` (a payload from the wire).

        Raises:
            MessageError: not a map, a required field missing, a field of the wrong type,
                or a check (:meth:`check`) of the object or of a part inside it failed.
        """
        where = str(where or getattr(cls, "NAME", cls.__name__))
        obj = _validate(cls, {} if data is None else data, where)
        _check(obj, where)
        return obj

    def check(self) -> str | None:
        """What is wrong with a parsed message beyond its field types (``None``: nothing)."""
        return None


class Message(Part):
    """A control-plane message: a :class:`Part` with the ``NAME`` it travels under."""

    NAME: ClassVar[str]


# ------------------------------------------------------------------ Locust's channel


class Sender(Protocol):
    """What :func:`send` uses of Locust's runner (``Runner.send_message``)."""

    def send_message(
        self, msg_type: str, data: dict[str, Any] | None = None, client_id: str | None = None
    ) -> None:
        """Send a message (a worker: to the master; the master: to a worker or all)."""


class Channel(Sender, Protocol):
    """What :func:`listen` uses of Locust's runner (``Runner.register_message``) besides
    sending."""

    def register_message(
        self, msg_type: str, listener: Callable[..., None], concurrent: bool = False
    ) -> None:
        """Call ``listener`` for each message of ``msg_type`` this process receives."""


def send(runner: Sender, message: Message, client_id: str | None = None) -> None:
    """Send ``message`` (a worker: to the master; the master: to ``client_id``, or to every
    worker when ``None``; standalone: to this process's own listener)."""
    if client_id is None:
        runner.send_message(message.NAME, message.to_msg())
    else:
        runner.send_message(message.NAME, message.to_msg(), client_id=client_id)


def listen(runner: Channel, cls: type[M], handler: Callable[[M, str], None]) -> None:
    """``runner.register_message`` for ``cls``: ``handler(message, sender's node id)``
    gets the typed message; a malformed one is logged in one line and ignored."""
    runner.register_message(cls.NAME, listener(cls, handler))


def listener(cls: type[M], handler: Callable[[M, str], None]) -> Callable[..., None]:
    """The Locust listener :func:`listen` registers (exposed for tests)."""

    def on_message(
        environment: Environment | None = None, msg: LocustMessage | None = None, **_: Any
    ) -> None:
        node = str(getattr(msg, "node_id", None) or "local")
        message = parse(cls, getattr(msg, "data", None), sender=node)
        if message is not None:
            handler(message, node)

    on_message.__name__ = f"on_{cls.NAME}"
    return on_message


def parse(cls: type[M], data: object, *, sender: str = "?") -> M | None:
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


# ------------------------------------------------------------------ validation


def _adapter(cls: type[P]) -> TypeAdapter[P]:
    """One pydantic ``TypeAdapter`` per dataclass, built at its first message."""
    cached = cls.__dict__.get("_wire_adapter")
    if cached is None:
        cached = TypeAdapter(cls)
        cls._wire_adapter = cached  # type: ignore[attr-defined]  # a cache on the class
    return cached


def _validate(cls: type[P], data: object, where: str) -> P:
    # Strict in JSON mode: pydantic's strict Python mode takes a dataclass only as an
    # instance, its JSON mode takes an object — which is what the wire carries (msgpack's
    # values are JSON's; a bytes value is refused, a map's integer keys become strings).
    try:
        text = json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise MessageError(where, f"not a wire payload ({exc})") from None
    try:
        return _adapter(cls).validate_json(text, strict=True)
    except ValidationError as exc:
        raise _one_line(cls, exc.errors(include_url=False), where) from None


def _check(obj: Part, where: str) -> None:
    """Each part's own :meth:`Part.check`, innermost first (as the fields were read)."""
    for name in _part_fields(type(obj)):
        _check_value(getattr(obj, name), f"{where}.{name}")
    problem = obj.check()
    if problem:
        raise MessageError(where, problem)


def _part_fields(cls: type) -> tuple[str, ...]:
    """The fields of ``cls`` whose type can hold a :class:`Part` (the others need no walk)."""
    cached = cls.__dict__.get("_wire_part_fields")
    if cached is None:
        hints = typing.get_type_hints(cls)
        cached = tuple(f.name for f in dataclasses.fields(cls) if _holds_part(hints[f.name]))
        cls._wire_part_fields = cached  # type: ignore[attr-defined]  # a cache on the class
    return cached


def _holds_part(tp: object) -> bool:
    if isinstance(tp, type) and issubclass(tp, Part):
        return True
    return any(_holds_part(a) for a in typing.get_args(tp))


def _check_value(value: object, where: str) -> None:
    if isinstance(value, Part):
        _check(value, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_value(v, f"{where}[{i}]")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_value(v, f"{where}[{k!r}]")


# ------------------------------------------------------------------ one readable line

_EXPECTED = {
    "int_type": "an integer", "float_type": "a number", "string_type": "a string",
    "bool_type": "true/false", "list_type": "a list", "dict_type": "a map",
    "dataclass_type": "a map", "none_required": "none",
}  # fmt: skip


def _one_line(cls: type, errors: list[ErrorDetails], where: str) -> MessageError:
    """The first error pydantic found as ``where.field[i]: what``; the alternatives of a
    union (``int | str``) are one error: ``expected an integer or a string``."""
    path, _ = _path(cls, errors[0]["loc"], where)
    first = errors[0]
    if first["type"] == "missing":
        parent, name = path.rsplit(".", 1)
        return MessageError(parent, f"missing field {name!r}")
    expected = []
    for e in errors:
        if _path(cls, e["loc"], where)[0] == path:
            expected.append(_EXPECTED.get(e["type"], e["msg"][:1].lower() + e["msg"][1:]))
    return MessageError(path, f"expected {' or '.join(expected)}, got {_show(first['input'])}")


def _path(cls: type, loc: tuple[int | str, ...], where: str) -> tuple[str, object]:
    """``loc`` as the field path (``grants[0].entry.user_id``), following the field types
    so that pydantic's union member tags (``int``, ``str``) are not read as fields."""
    path, tp = where, cls
    items = list(loc)
    while items:
        origin = typing.get_origin(tp)
        if origin in (Union, types.UnionType):
            members = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
            tag = str(items.pop(0))  # the member pydantic tried: its tag names it
            tp = next((m for m in members if _tag(m) == tag), Any)
            continue
        item = items.pop(0)
        if dataclasses.is_dataclass(tp):
            path += f".{item}"
            tp = typing.get_type_hints(tp).get(str(item), Any)
        elif origin is list:
            path += f"[{item}]"
            tp = (typing.get_args(tp) or (Any,))[0]
        elif origin is dict:
            path += f"[{item!r}]"
            tp = (typing.get_args(tp) or (Any, Any))[-1]
        else:
            path += f".{item}"
            tp = Any
    return path, tp


def _tag(tp: object) -> str:
    return tp.__name__ if isinstance(tp, type) else str(tp)


def _wire(value: object) -> object:
    if isinstance(value, Part):
        return value.to_msg()
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


def _show(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"
