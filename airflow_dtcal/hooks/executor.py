"""The two executors of operation flows (:mod:`.operation`): one sync, one async.

Each runs a flow step by step: a :class:`~airflow_dtcal.core.calls.Call` goes through the client's request
path (``_run`` / ``_arun``: token, pacing, retries, answer checks), a :class:`~.operation.Many` runs its flows
with requests in flight (threads sharing the hook, or tasks on the event loop), an :class:`~.operation.Emit`
hands items to the caller of a listing. A failure is thrown into the flow, which may expect it (a "not
found", say); a value that breaks a rule becomes a
:class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError` whenever the flow raises it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_dtcal.exceptions import invalid_arguments
from airflow_dtcal.hooks.operation import Emit, Flow, Many

if TYPE_CHECKING:
    from airflow_dtcal.core.calls import Call
    from airflow_dtcal.core.settings import Settings


@dataclass(frozen=True)
class _Finished:
    """A flow returned: its result."""

    value: Any


class Executor:
    """Drives operation flows; mixed into the hook's client, whose request path it uses."""

    if TYPE_CHECKING:

        @property
        def settings(self) -> Settings: ...

    def _run(self, call: Call) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    async def _arun(self, call: Call) -> Any:  # pragma: no cover - the client's
        raise NotImplementedError

    async def asettings(self) -> Settings:  # pragma: no cover - the client's
        raise NotImplementedError

    @staticmethod
    def _resume(flow: Flow[Any], answer: Any, error: BaseException | None) -> Any:
        """The flow's next step, its :class:`_Finished` result, or its error (a rule a value breaks becomes
        a :class:`~airflow_dtcal.exceptions.DingTalkInvalidArgumentError`)."""
        try:
            with invalid_arguments():
                return flow.throw(error) if error is not None else flow.send(answer)
        except StopIteration as stop:
            return _Finished(stop.value)

    def _advance(self, flow: Flow[Any]) -> Emit[Any] | _Finished:
        """Run ``flow`` until it emits items or returns, sending each request it yields."""
        answer, error = None, None
        while True:
            step = self._resume(flow, answer, error)
            if isinstance(step, (Emit, _Finished)):
                return step
            answer, error = None, None
            try:
                if isinstance(step, Many):
                    answer = self.run_many(self._drive, step.flows)
                else:
                    answer = self._run(step)
            except BaseException as err:  # thrown into the flow: it may expect it (NotFound, say)
                error = err

    async def _aadvance(self, flow: Flow[Any]) -> Emit[Any] | _Finished:
        answer, error = None, None
        while True:
            step = self._resume(flow, answer, error)
            if isinstance(step, (Emit, _Finished)):
                return step
            answer, error = None, None
            try:
                if isinstance(step, Many):
                    answer = await self.arun_many(self._adrive, step.flows)
                else:
                    answer = await self._arun(step)
            except BaseException as err:
                error = err

    def _drive(self, flow: Flow[Any]) -> Any:
        """Run an operation flow to its result (sync)."""
        return _result(self._advance(flow))

    async def _adrive(self, flow: Flow[Any]) -> Any:
        """Run an operation flow to its result (async)."""
        return _result(await self._aadvance(flow))

    def _iterate(self, flow: Flow[Any]) -> Iterator[Any]:
        """The items a listing flow emits, each page fetched when the previous one is consumed (sync)."""
        try:
            while isinstance(step := self._advance(flow), Emit):
                yield from step.items
        finally:
            flow.close()

    async def _aiterate(self, flow: Flow[Any]) -> AsyncIterator[Any]:
        try:
            while isinstance(step := await self._aadvance(flow), Emit):
                for item in step.items:
                    yield item
        finally:
            flow.close()

    # ---------------------------------------------------------------- requests in flight

    def run_many(
        self, function: Callable[[Any], Any], items: Iterable[Any], *, max_in_flight: int | None = None
    ) -> list:
        """``function(item)`` for every item, up to ``max_in_flight`` at once (threads sharing this hook and
        its pacer); the results in the items' order.

        Use it for bulk work in one task: ``hook.run_many(lambda r: hook.respond_event(*r), responses)``. On
        the first error no new item starts; the ones already in flight finish, then that error is raised.
        """
        items = list(items)
        limit = max_in_flight or self.settings.max_in_flight
        if limit <= 1 or len(items) <= 1:
            return [function(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(limit, len(items)), thread_name_prefix="dtcal") as pool:
            futures = [pool.submit(function, item) for item in items]
            _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            wait(futures)
            for future in futures:
                if not future.cancelled() and future.exception() is not None:
                    raise future.exception()  # type: ignore[misc]
            return [future.result() for future in futures]

    async def arun_many(
        self,
        function: Callable[[Any], Awaitable[Any]],
        items: Iterable[Any],
        *,
        max_in_flight: int | None = None,
    ) -> list:
        """Async :meth:`run_many`: ``await function(item)`` for every item, up to ``max_in_flight`` at once."""
        items = list(items)
        limit = asyncio.Semaphore(max_in_flight or (await self.asettings()).max_in_flight)
        failed = asyncio.Event()

        async def one(item: Any) -> Any:
            async with limit:
                if failed.is_set():
                    raise asyncio.CancelledError
                try:
                    return await function(item)
                except BaseException:
                    failed.set()
                    raise

        tasks = [asyncio.ensure_future(one(item)) for item in items]
        if not tasks:
            return []
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        await asyncio.wait(tasks)
        for task in tasks:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        return [task.result() for task in tasks]


def _result(step: Emit[Any] | _Finished) -> Any:
    if isinstance(step, Emit):  # pragma: no cover - operation() is only given flows that do not emit
        raise TypeError("an operation flow emitted items; write it as a listing")
    return step.value
