"""The ASGI entry point served by the `web:` process (see Procfile and cdp_project/serve.py).

Django's ASGI handler reads a request's whole body asynchronously before any view code runs,
so a client that trickles its headers or body holds a coroutine, not one of the few threads
that run views: slow clients cannot starve the fast ones.

Two changes to Django's handler. The middleware chain and the view run synchronously in one
hop to the view thread (Django's async chain hops there and back for every sync middleware
method: ~6 ms of every request). And a streaming response over a synchronous iterator (the segment
export) is sent as it is produced, a bounded batch of parts at a time, pulled in the request's
own view thread. Django alone would first collect the whole iterator in memory
(`sync_to_async(list)`), which for a large export means the whole file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

STREAM_BATCH_BYTES = 256 * 1024  # at most this much (plus one part) pulled per hop to the view thread


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


async def stream_pulled(parts: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A synchronous stream as an asynchronous one: each batch is pulled in the request's
    thread (thread-sensitive, so database cursors stay on the connection that opened them)."""
    pull = sync_to_async(_parts_next, thread_sensitive=True)
    while batch := await pull(parts):
        for part in batch:
            yield part


class StreamingASGIHandler(ASGIHandler):
    def __init__(self) -> None:
        super().__init__()
        # The middleware chain runs synchronously, as under WSGI, in one hop to the view thread.
        # Django's async chain hops to that thread and back for each sync part of every
        # middleware (process_request, process_response…): about 6 ms per request here.
        self.load_middleware(is_async=False)

    async def get_response_async(self, request):
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)

    async def send_response(self, response, send):
        if response.streaming and not response.is_async:
            # The closers of the original iterator stay registered: response.close() runs them.
            response.streaming_content = stream_pulled(iter(response.streaming_content))
        await super().send_response(response, send)


def get_application() -> StreamingASGIHandler:
    django.setup(set_prefix=False)
    return StreamingASGIHandler()


application = get_application()
