"""How a hook operation is written once and run both ways (sync and async).

An operation is a **flow**: a generator function that validates its arguments, then yields the requests it
needs and receives their checked answers, and returns its result. It does no I/O itself, so one flow serves
both transports, the way httpx drives one auth flow from its sync and its async client::

    def get_event(ctx, user_id, event_id, *, calendar_id="primary"):
        \"\"\"One event as ``user_id`` sees it.\"\"\"
        return (yield calls.get_event(user_id, event_id, calendar_id, None))

A flow yields three kinds of step:

* a :class:`~airflow_dtcal.core.calls.Call`: the executor sends it (token, pacing, retries, answer checks)
  and sends back the checked answer, or throws the failure into the flow;
* :class:`Many`: several small flows (usually one call each) run with requests in flight; their
  results come back in order;
* :class:`Emit`: items for the caller of a listing (``iter_events`` yields them one by one).

:func:`operation` turns a flow into the pair of hook methods, ``name`` and ``a`` + ``name``, with the flow's
signature (minus its :class:`Context`) and docstring; :func:`listing` does the same for flows that emit
items (an iterator and an async iterator); :func:`collected` makes a list-returning flow from a listing.
The executors that drive flows are :class:`~airflow_dtcal.hooks.client.CalendarClient`'s.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from airflow_dtcal.core.calls import Call
from airflow_dtcal.core.errors import DingTalkNotFoundError
from airflow_dtcal.core.paging import Pager

if TYPE_CHECKING:
    from airflow_dtcal.core.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """What a flow may know besides its arguments: the resolved settings and the hook's logger."""

    settings: Settings
    log: Any  # the hook's logger (Airflow's structured logger, or a logging.Logger)


@dataclass(frozen=True)
class Many:
    """Several flows to run at once (up to the ``max_in_flight`` setting); their results come back in order.

    Each is usually one call (:func:`send`, :func:`found_or_none`), or a small flow of its own (a chunk that
    logs its progress). On the first failure no new one starts; those in flight finish, then the failure
    is thrown into the flow that yielded the :class:`Many`.
    """

    flows: Sequence[Generator[Any, Any, Any]]


@dataclass(frozen=True)
class Emit(Generic[T]):
    """Items a listing hands to its caller (one page at a time: memory stays at one page)."""

    items: Sequence[T]


Step = Call | Many | Emit[Any]
#: A flow: yields steps, receives answers, returns its result.
Flow = Generator[Step, Any, R]
#: A listing: a flow that emits items and returns nothing.
Listing = Generator[Step, Any, None]


def send(call: Call) -> Generator[Step, Any, Any]:
    """A flow of one call: its checked answer."""
    return (yield call)


def found_or_none(call: Call) -> Generator[Step, Any, Any]:
    """A flow of one call: its checked answer, or None when DingTalk answers "not found"."""
    try:
        return (yield call)
    except DingTalkNotFoundError:
        return None


def pages(ctx: Context, call: Call) -> Generator[Step, Any, None]:
    """A listing of every item of a ``nextToken`` loop over ``call``, emitted page by page (bounded by the
    ``max_pages`` setting; see :class:`~airflow_dtcal.core.paging.Pager`)."""
    pager = Pager(call, ctx.settings.max_pages)
    while not pager.done:
        yield Emit(pager.accept((yield pager.next_call())))


def _signature(flow: Callable[..., Any], kind: str, item: str = "dict") -> inspect.Signature:
    """The flow's signature as a method: its first parameter (the Context) becomes ``self``, and it returns
    what the method returns (``Flow[dict]`` -> ``dict``; a listing -> ``Iterator[dict]``)."""
    signature = inspect.signature(flow)
    rest = list(signature.parameters.values())[1:]
    me = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    returns = str(signature.return_annotation)
    if returns.startswith("Flow[") and returns.endswith("]"):
        returns = returns[5:-1]
    if kind == "iterate":
        returns = f"Iterator[{item}]"
    elif kind == "aiterate":
        returns = f"AsyncIterator[{item}]"
    return signature.replace(parameters=[me, *rest], return_annotation=returns)


def _method(
    flow: Callable[..., Any],
    body: Callable[..., Any],
    name: str,
    doc: str | None,
    kind: str,
    item: str = "dict",
) -> Any:
    body.__name__ = name
    body.__qualname__ = name
    body.__doc__ = doc
    body.__module__ = flow.__module__
    body.__signature__ = _signature(flow, kind, item)  # type: ignore[attr-defined]
    return body


class _Bound(Generic[P, R]):
    """A descriptor holding one prebuilt method; the class gets it under the name it is assigned to."""

    def __init__(self, flow: Callable[..., Any], doc: str | None, item: str = "dict") -> None:
        self.flow = flow
        self.doc = doc
        self.item = item
        self.function: Any = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.function = self._build(name)

    def _build(self, name: str) -> Any:  # pragma: no cover - every subclass has its own
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {getattr(self.function, '__name__', self.flow.__name__)}>"


class SyncOperation(_Bound[P, R]):
    """``hook.name(...)``: runs the flow to its result with the sync executor."""

    def _build(self, name: str) -> Any:
        flow = self.flow

        def method(hook: Any, *args: Any, **kwargs: Any) -> Any:
            return hook._drive(flow(hook._context(), *args, **kwargs))

        return _method(flow, method, name, self.doc, "drive")

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[..., Any]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self.function if obj is None else self.function.__get__(obj, owner)


class AsyncOperation(_Bound[P, R]):
    """``await hook.aname(...)``: runs the flow to its result with the async executor."""

    def _build(self, name: str) -> Any:
        flow = self.flow

        async def method(hook: Any, *args: Any, **kwargs: Any) -> Any:
            return await hook._adrive(flow(await hook._acontext(), *args, **kwargs))

        return _method(flow, method, name, self.doc, "adrive")

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[..., Any]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, Coroutine[Any, Any, R]]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self.function if obj is None else self.function.__get__(obj, owner)


class SyncListing(_Bound[P, T]):
    """``for item in hook.iter_name(...)``: the items the flow emits, fetched as they are consumed."""

    def _build(self, name: str) -> Any:
        flow = self.flow

        def method(hook: Any, *args: Any, **kwargs: Any) -> Any:
            return hook._iterate(flow(hook._context(), *args, **kwargs))

        return _method(flow, method, name, self.doc, "iterate", self.item)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[..., Any]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, Iterator[T]]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self.function if obj is None else self.function.__get__(obj, owner)


class AsyncListing(_Bound[P, T]):
    """``async for item in hook.aiter_name(...)``."""

    def _build(self, name: str) -> Any:
        flow = self.flow

        async def method(hook: Any, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            async for item in hook._aiterate(flow(await hook._acontext(), *args, **kwargs)):
                yield item

        return _method(flow, method, name, self.doc, "aiterate", self.item)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[..., Any]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Any:
        return self.function if obj is None else self.function.__get__(obj, owner)


def _async_doc(flow: Callable[..., Any]) -> str:
    return f"Async :meth:`{flow.__name__}`.\n\n{inspect.getdoc(flow) or ''}".rstrip()


def operation(
    flow: Callable[Concatenate[Context, P], Flow[R]],
) -> tuple[SyncOperation[P, R], AsyncOperation[P, R]]:
    """The hook methods ``name`` and ``aname`` of a flow: ``get_event, aget_event = operation(get_event)``."""
    return SyncOperation(flow, inspect.getdoc(flow)), AsyncOperation(flow, _async_doc(flow))


def listing(
    flow: Callable[Concatenate[Context, P], Generator[Step, Any, None]],
    item: type[T],
) -> tuple[SyncListing[P, T], AsyncListing[P, T]]:
    """The hook methods ``iter_name`` and ``aiter_name`` of a listing flow that emits ``item`` objects."""
    return SyncListing(flow, inspect.getdoc(flow), item.__name__), AsyncListing(
        flow, _async_doc(flow), item.__name__
    )


def collected(
    flow: Callable[Concatenate[Context, P], Listing],
) -> Callable[Concatenate[Context, P], Flow[list]]:
    """A flow returning, as one list, every item the listing ``flow`` emits (same arguments)."""

    @functools.wraps(flow)
    def whole(ctx: Context, *args: P.args, **kwargs: P.kwargs) -> Flow[list]:
        items: list = []
        inner = flow(ctx, *args, **kwargs)
        answer: Any = None
        error: BaseException | None = None
        while True:
            try:
                step = inner.throw(error) if error is not None else inner.send(answer)
            except StopIteration:
                return items
            answer, error = None, None
            if isinstance(step, Emit):
                items.extend(step.items)
                continue
            try:
                answer = yield step
            except BaseException as err:  # the executor's failure: the inner flow decides what it means
                error = err

    whole.__doc__ = f"Every item :meth:`{flow.__name__}` yields, as a list.\n\n{inspect.getdoc(flow) or ''}"
    whole.__name__ = flow.__name__.replace("iter_", "list_", 1)
    whole.__signature__ = inspect.signature(flow).replace(return_annotation="Flow[list]")  # type: ignore[attr-defined]
    return whole
