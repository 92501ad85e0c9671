"""Page handlers as Gradio handlers: plain functions returning ``{component name: value}``,
the one guard that turns an EmbedscopeError into the page's message, and Gradio's event data."""

import functools
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from embedscope.errors import EmbedscopeError, UsageError

Handler = Callable[..., dict]
Guard = Callable[[Handler], Handler]
#: The key of the status banner in a handler's ``{name: value}``.
STATUS = "status"


class Selected(Protocol):
    """What a handler parameter annotated with this receives: Gradio's ``gr.SelectData``."""

    index: Any
    value: Any


class Event(Protocol):
    """What a handler parameter annotated with this receives: Gradio's ``gr.EventData``
    (a custom event's payload is its ``_data``)."""


def usage(message: str) -> EmbedscopeError:
    """A UsageError for a handler to raise (the guard shows it in the status line).

    Args:
        message: What the user should do, e.g. "choose a collection first.".

    Returns:
        The error, to be raised.
    """
    return UsageError(message)


def update(**changes: Any) -> dict:
    """``gr.update(**changes)``: new properties of a component (choices, visibility …)."""
    import gradio as gr

    return dict(gr.update(**changes))


def gallery(tiles: list[Any]) -> dict:
    """New tiles for a gallery, none selected (the gallery has no preview mode to reopen)."""
    return update(value=tiles, selected_index=None)


def refused(exc: EmbedscopeError, status: Any = STATUS) -> dict:
    """What the guard shows for ``exc`` (the banner and a toast), for a handler that must also
    change other components when it refuses."""
    warn(exc)
    return {status: "⚠️ " + escape(str(exc))}


def warn(exc: Exception) -> None:
    """``exc`` as the page's toast, as text (Gradio renders a toast's message as HTML, and a
    message may hold values from the data)."""
    import html

    import gradio as gr

    gr.Warning(html.escape(str(exc)))


def guarded(status: Any) -> Callable[[Handler], Handler]:
    """The one place the page turns an EmbedscopeError into a message.

    The handler returns ``{key: value}`` (keys: components or their names); on an
    EmbedscopeError only ``status`` changes (to the message, also raised as a toast) and the
    page keeps serving.
    """

    def wrap(fn: Handler) -> Handler:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> dict:
            try:
                out = fn(*args, **kwargs)
            except EmbedscopeError as exc:
                return refused(exc, status)
            out.setdefault(status, "")
            return out

        return inner

    return wrap


#: The characters Markdown (and Gradio's) may read as markup anywhere; each is backslash-escaped.
MARKUP = "\\`*_{}[]<>|!~&$"
#: What is markup only where a line starts: a heading, a list, a setext underline.
_LINE_START = re.compile(r"^(\d*)([-+=#.)])")


def escape(text: Any) -> str:
    """Text shown literally in Markdown, on one line: a value from the data (a class name, a
    caption, a tag, a split, a path), a file name or a message holding them. Data is text:
    ``<script>`` shows as ``<script>``, ``**`` as ``**``, and no link or image is made."""
    flat = " ".join(str(text).splitlines())
    out = "".join("\\" + c if c in MARKUP else c for c in flat)
    core = out.rstrip("#")  # a run of # ending a heading's line would close it
    out = core + "\\#" * (len(out) - len(core))
    start = _LINE_START.match(out)
    if start is None or (start.group(1) == "") != (start.group(2) in "-+=#"):
        return out
    return f"{start.group(1)}\\{out[len(start.group(1)):]}"


def code(text: Any) -> str:
    """Text shown literally as inline code in Markdown (fenced by more backticks than it holds)."""
    flat = " ".join(str(text).splitlines())
    longest = max([0, *(len(run) for run in re.findall("`+", flat))])
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith(("`", " ")) or flat.endswith(("`", " ")) else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def keyed(out: Mapping[Any, Any], components: Mapping[str, Any]) -> dict:
    """``{name: value}`` as ``{component: value}`` (keys that are components stay)."""
    return {components[k] if isinstance(k, str) else k: v for k, v in out.items()}


def bind(fn: Callable[..., Any], components: Mapping[str, Any], *bound: Any,
         guard: bool = True) -> Callable[..., Any]:
    """A Gradio event handler made of a page handler.

    The page handler takes ``bound`` first (the session, the maps …), then the event's input
    values, and returns (or, a generator, yields) ``{name: value}`` for components named in
    ``components``. Its parameters annotated :class:`Selected` or :class:`Event` receive
    Gradio's event data.

    Args:
        fn: The page handler.
        components: The tab's components by name (``"status"`` among them).
        *bound: The first arguments of ``fn``.
        guard: An EmbedscopeError becomes the status banner's message (not for generators:
            they guard what they yield themselves).
    """
    import gradio as gr

    events: dict[Any, Any] = {Selected: gr.SelectData, Event: gr.EventData}
    events.update({cls.__name__: hint for cls, hint in list(events.items())})
    try:
        hints = typing.get_type_hints(fn)
    except (NameError, TypeError):  # names local to a function: matched by their spelling
        hints = dict(getattr(fn, "__annotations__", {}))
    params, annotations = [], {}
    for p in list(inspect.signature(fn).parameters.values())[len(bound):]:
        hint = _event_type(events, hints.get(p.name))
        if hint is not None:
            annotations[p.name] = hint
        params.append(p.replace(annotation=hint or inspect.Parameter.empty))
    call = guarded(STATUS)(fn) if guard and not inspect.isgeneratorfunction(fn) else fn
    if inspect.isgeneratorfunction(fn):
        def handler(*args: Any) -> Any:
            for out in fn(*bound, *args):
                yield keyed(out, components)
    else:
        def handler(*args: Any) -> Any:
            return keyed(call(*bound, *args), components)
    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    handler.__annotations__ = annotations
    handler.__name__ = handler.__qualname__ = fn.__name__
    handler.__doc__ = fn.__doc__
    return handler


def _event_type(events: dict[Any, Any], hint: Any) -> Any:
    try:
        return events.get(hint)
    except TypeError:  # an unhashable annotation: not an event
        return None
