"""The ASGI entry point served by the `web:` process (see Procfile and cdp_project/serve.py).

Django's ASGI handler reads a request's whole body asynchronously before any view code runs,
so a client that trickles its headers or body holds a coroutine, not one of the few threads
that run views: slow clients cannot starve the fast ones.

Four changes to Django's handler.

- Views run on a fixed set of view threads per process (`CDP_WEB_THREADS`, default 4), each
  request on one free thread for its whole life, as a threaded WSGI server does. Django's own
  handler starts a new thread for every request, so every request opened its database
  connection again (or took one from a pool and set it up), and lost every per-thread cache:
  the compiled hot-path queries of `cdp_project.core.compiled`, about 60 % of a runtime
  context read. A view thread keeps its persistent connection (`DATABASE_CONN_MAX_AGE`) and
  its caches. The body is read before a thread is taken, so a client that trickles its
  bytes never holds one.
- Everything before the first byte is sent (request_started, building the request, the
  middleware chain, the view, and closing a response that is not a stream) runs in one hop to
  the view thread (`InViewThread`), synchronously as under WSGI. Django's handler runs its middleware chain
  asynchronously, hopping to the view thread and back for every sync middleware method (~6 ms
  a request here), plus a hop for each signal and for closing the response.
- Requests of the machine API (`CDP_MACHINE_PATH_PREFIXES`) run through MIDDLEWARE without
  the middlewares of the admin's browser sessions (`MachineChain`), and a plain GET of a view
  with a lean path (the runtime's context and variables) below Django's handler and middleware,
  with the same answer (`cdp_project.lean_gets`).
- A streaming response over a synchronous iterator (the segment export) is sent as it is
  produced, a bounded batch of parts at a time, pulled in the request's own view thread.
  Django alone would first collect the whole iterator in memory (`sync_to_async(list)`),
  which for a large export means the whole file."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import django
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix

from cdp_project.lean_gets import LeanAnswer, LeanGets, LeanRoute

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

STREAM_BATCH_BYTES = 256 * 1024  # at most this much (plus one part) pulled per hop to the view thread
T = TypeVar("T")


def _parts_next(parts: Iterator[bytes]) -> list[bytes]:
    """The next parts of a synchronous stream, up to about STREAM_BATCH_BYTES; [] at its end."""
    batch: list[bytes] = []
    size = 0
    for part in parts:
        batch.append(part)
        size += len(part)
        if size >= STREAM_BATCH_BYTES:
            break
    return batch


class InViewThread:
    """Runs a request's synchronous calls on its view thread, one after the other, in one
    context of its own (the request's context variables live as long as the request).

    A plain `run_in_executor` on the request's single-thread executor: asgiref's
    `sync_to_async` with a ThreadSensitiveContext reaches the same thread, at about 0.4 ms more
    CPU a request in bookkeeping (a per-call context copy, thread-local rehoming, futures
    chained through a second executor)."""

    def __init__(self, executor: ThreadPoolExecutor) -> None:
        self.executor = executor
        self.context = contextvars.copy_context()

    def __call__(self, function: Callable[..., T], *args: object) -> Awaitable[T]:
        call = functools.partial(self.context.run, function, *args)
        return asyncio.get_running_loop().run_in_executor(self.executor, call)


async def stream_pulled(parts: Iterator[bytes], in_view: InViewThread) -> AsyncIterator[bytes]:
    """A synchronous stream as an asynchronous one: each batch is pulled in the request's view
    thread, so database cursors stay on the connection that opened them."""
    while batch := await in_view(_parts_next, parts):
        for part in batch:
            yield part


class ViewThreads:
    """A fixed set of single-thread executors, each lent to one request at a time."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._free: asyncio.Queue[ThreadPoolExecutor] | None = None

    def _queue(self) -> asyncio.Queue[ThreadPoolExecutor]:
        if self._free is None:  # created in the server's event loop, on first use
            self._free = asyncio.Queue()
            for index in range(self.count):
                self._free.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"view-{index}"))
        return self._free

    async def take(self) -> ThreadPoolExecutor:
        return await self._queue().get()

    def give_back(self, executor: ThreadPoolExecutor) -> None:
        self._queue().put_nowait(executor)


def machine_middleware() -> list[str]:
    """MIDDLEWARE without `CDP_SESSION_ONLY_MIDDLEWARE`: the machine API's chain."""
    skipped = set(settings.CDP_SESSION_ONLY_MIDDLEWARE)
    return [path for path in settings.MIDDLEWARE if path not in skipped]


class MachineChain(BaseHandler):
    """The middleware chain of the machine API's requests (`CDP_MACHINE_PATH_PREFIXES`):
    `machine_middleware()`, without the middlewares that serve the admin's browser sessions
    and do nothing for a request authenticated by its API key or runtime token. The answers
    are the same, header for header (tests/core/test_web_process.py)."""

    def __init__(self) -> None:
        super().__init__()
        middleware = settings.MIDDLEWARE
        # Django builds a chain from settings.MIDDLEWARE: the smaller list stands in for it
        # while this chain is built, at start-up, before any request.
        settings.MIDDLEWARE = machine_middleware()
        try:
            self.load_middleware(is_async=False)
        finally:
            settings.MIDDLEWARE = middleware


class StreamingASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        self.view_threads = ViewThreads(settings.CDP_WEB_THREADS)
        # The middleware chain runs synchronously, as under WSGI, in one hop to the view thread.
        # Django's async chain hops to that thread and back for each sync part of every
        # middleware (process_request, process_response…): about 6 ms per request here.
        self.load_middleware(is_async=False)
        self.machine_chain = MachineChain()
        self.machine_prefixes = tuple(settings.CDP_MACHINE_PATH_PREFIXES)
        self.lean_gets = LeanGets(machine_middleware(), self.__class__, self.machine_prefixes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body = await self.read_body(receive)  # before a view thread is taken
        except RequestAborted:
            return
        executor = await self.view_threads.take()
        try:
            # Every synchronous call of this request (signals, middleware, view, closing the
            # response, pulling a stream) runs on this one thread.
            in_view = InViewThread(executor)
            response = await in_view(self.respond, scope, body, self.lean_gets.route_for(scope))
            if isinstance(response, LeanAnswer):
                await response.send(send)
            elif response.streaming:
                await self.stream(response, receive, send, in_view)
            else:
                await self.send_response(response, send)
        finally:
            self.view_threads.give_back(executor)
            body.close()

    def respond(self, scope, body, lean: LeanRoute | None = None) -> HttpResponseBase | LeanAnswer:
        """Everything Django does for a request before the first byte is sent, in one hop to the
        view thread: request_started, the request, the middleware chain and the view. Django's own
        handler hops there and back for each of these. A response that is not a stream is whole
        now, so it is closed here too (request_finished: connections tidied, as under WSGI).
        A lean GET (`cdp_project.lean_gets`) is answered without any of that, if it can be."""
        if lean is not None and (answer := self.lean_gets.answer(scope, lean)) is not None:
            return answer
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body)
        if request is not None:
            chain = self.machine_chain if request.path_info.startswith(self.machine_prefixes) else self
            response = chain.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:
            response.close()
        return response

    async def stream(self, response, receive, send, in_view: InViewThread) -> None:
        """Send a streaming response while listening for the client's disconnect, which stops it
        (as Django's handler does: an export nobody reads is not produced to the end)."""
        sending = asyncio.create_task(self.send_response(response, send, in_view))
        listening = asyncio.create_task(self.listen_for_disconnect(receive))
        try:
            await asyncio.wait([sending, listening], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (listening, sending):
                if not task.done():
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, RequestAborted):
                    await task
            await in_view(response.close)

    async def send_response(self, response, send, in_view: InViewThread | None = None):
        if response.streaming and not response.is_async:
            # The closers of the original iterator stay registered: response.close() runs them.
            response.streaming_content = stream_pulled(iter(response.streaming_content), in_view)
        await super().send_response(response, send)


def get_application() -> StreamingASGIHandler:
    django.setup(set_prefix=False)
    return StreamingASGIHandler()


application = get_application()
