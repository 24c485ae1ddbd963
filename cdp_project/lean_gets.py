"""GETs the web process answers below Django's handler and middleware (cdp_project/asgi.py).

The campaign runtime reads its participant's context on every step of a flow. A view that
offers a lean path (`lean_body`, `lean_accepts`, `lean_content_type`: the runtime's context and
variables) answers a plain GET with a good token from one combined read; measured under the
production web process, building Django's request and running the handler and the middleware
chain around that read still cost about 0.9 ms of the 3.3 ms of CPU it took (concurrency 1).
Here such a GET is answered from the ASGI scope, on the request's view thread, with exactly
what the middlewares would have done to that answer and nothing else:

- RequestObservabilityMiddleware: the request id, the latency histogram and the access log,
  with the same functions (`request_id_bound`, `request_observed`);
- SecurityMiddleware and XFrameOptionsMiddleware: their response headers, computed once by
  those middlewares themselves, for http and for https (HSTS);
- CommonMiddleware: Content-Length, and its Host check against ALLOWED_HOSTS (a Host it would
  refuse goes the full path, which refuses it);
- ProblemResponsesMiddleware, RefuseUnstorableInputMiddleware, ChunkedBodyMiddleware and
  WhiteNoise do nothing to a 200 JSON answer to a GET of an API path without a query string or
  a chunked body (which go the full path).

`request_started` and `request_finished` are sent as Django's handler sends them (connections
past their age are closed). Headers are read as Django reads them (names with an underscore
ignored, repeated ones joined with commas). Everything else goes the full path, which answers as
it always has: another method, a query string, an Accept the view does not answer with JSON, no
Host, plain HTTP where SECURE_SSL_REDIRECT would redirect, a token the view refuses, an error
(logged as a warning). A GET the lean path tried and left to the full path sends the two
signals twice, and its lines logged before the fallback carry another request id unless the
caller sent one. A middleware in MIDDLEWARE that this module does not know turns
every lean GET off (`LeanGets.disabled_by`): it is honoured until someone says here what it
does to such an answer. tests/core/test_lean_gets.py compares both paths header for header.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signals
from django.http import HttpRequest, HttpResponse
from django.http.request import split_domain_port, validate_host
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RoutePattern

from cdp_project.core.observability import REQUEST_ID_HEADER, request_id_bound, request_observed

logger = logging.getLogger(__name__)

# Set in the ASGI scope of a GET the lean path tried and left to the full path: the view's own
# lean path (RuntimeAPIView.dispatch) need not try the same read again.
TRIED = "cdp.lean_get_tried"

# The middlewares that add headers to a lean answer, run once on a template answer; the others of
# KNOWN_MIDDLEWARE do nothing to it (module docstring).
HEADER_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": SecurityMiddleware,
    "django.middleware.clickjacking.XFrameOptionsMiddleware": XFrameOptionsMiddleware,
}
KNOWN_MIDDLEWARE = frozenset(
    {
        *HEADER_MIDDLEWARE,
        "cdp_project.core.observability.RequestObservabilityMiddleware",
        "cdp_project.core.middleware.ProblemResponsesMiddleware",
        "cdp_project.core.middleware.RefuseUnstorableInputMiddleware",
        "cdp_project.core.middleware.ChunkedBodyMiddleware",
        "django.middleware.common.CommonMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    }
)


@dataclass(frozen=True)
class LeanRoute:
    path: str
    view: Any  # an instance of the view class, for its lean_* methods
    allow: bytes  # the Allow header DRF sends
    route: str  # the route label of the metrics and the access log


@dataclass(frozen=True)
class LeanAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes

    async def send(self, send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def _patterns(resolver: URLResolver, prefix: str) -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        if not isinstance(entry.pattern, RoutePattern) or entry.pattern.converters:
            continue  # only fixed paths
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern), entry


def lean_routes(prefixes: tuple[str, ...]) -> dict[str, LeanRoute]:
    """Every fixed path under `prefixes` (the machine API's, whose middleware chain is the one
    reproduced here) whose view offers a lean path, and which resolves to that view (a pattern
    listed earlier could shadow it)."""
    routes = {}
    for route, pattern in _patterns(get_resolver(), "/"):
        view_class = getattr(pattern.callback, "view_class", None)
        if view_class is None or not hasattr(view_class, "lean_body") or not route.startswith(prefixes):
            continue
        match = resolve(route)
        if getattr(match.func, "view_class", None) is not view_class:
            continue
        view = view_class(**pattern.callback.view_initkwargs)
        view.setup(HttpRequest())  # as as_view() sets up each request's view (HEAD answered as GET)
        routes[route] = LeanRoute(route, view, ", ".join(view.allowed_methods).encode(), "/" + match.route)
    return routes


class _TemplateRequest(HttpRequest):
    def __init__(self, scheme: str) -> None:
        super().__init__()
        self._scheme = scheme

    def _get_scheme(self) -> str:
        return self._scheme


def middleware_headers(middleware: list[str], secure: bool) -> list[tuple[bytes, bytes]]:
    """The headers that the chain's header-setting middlewares add to a lean answer, as they
    add them themselves (run on a template answer)."""
    response = HttpResponse()
    before = set(response.headers)
    request = _TemplateRequest("https" if secure else "http")
    for path in reversed(middleware):  # answers pass the chain from its innermost middleware out
        if path in HEADER_MIDDLEWARE:
            HEADER_MIDDLEWARE[path](lambda _: response).process_response(request, response)
    return [(name.encode(), value.encode("latin1")) for name, value in response.items() if name not in before]


# Settings under which the full path would answer otherwise than this module does.
ODD_SETTINGS = ("USE_X_FORWARDED_HOST", "PREPEND_WWW", "DISALLOWED_USER_AGENTS", "FORCE_SCRIPT_NAME")


class LeanGets:
    def __init__(self, middleware: list[str], handler_class: type, prefixes: tuple[str, ...]) -> None:
        self.handler_class = handler_class
        unknown = sorted(set(middleware) - KNOWN_MIDDLEWARE)
        odd = [name for name in ODD_SETTINGS if getattr(settings, name)]
        proxy = settings.SECURE_PROXY_SSL_HEADER
        if proxy and not proxy[0].startswith("HTTP_"):
            odd.append("SECURE_PROXY_SSL_HEADER")  # a server value, not a header the client sends
        self.disabled_by = unknown + odd
        self.routes = {} if self.disabled_by else lean_routes(prefixes)
        if self.disabled_by:
            logger.info("lean GETs are off, because of %s", ", ".join(self.disabled_by))
        self.content_length = "django.middleware.common.CommonMiddleware" in middleware
        self.headers = {secure: middleware_headers(middleware, secure) for secure in (False, True)}
        self.proxy_header = proxy[0].removeprefix("HTTP_").lower().replace("_", "-") if proxy else None
        self.proxy_secure = proxy[1] if proxy else None
        self.wanted = {"host", "authorization", "accept", "x-request-id", "transfer-encoding"}
        if self.proxy_header is not None:
            self.wanted.add(self.proxy_header)

    def route_for(self, scope) -> LeanRoute | None:
        """The lean route of this request, if it may be one (answer() decides)."""
        if scope["method"] != "GET" or scope.get("query_string") or scope.get("root_path"):
            return None
        return self.routes.get(scope["path"])

    def _headers(self, scope) -> dict[str, str]:
        """The headers that matter here, as Django puts them in META: names with an underscore
        dropped, repeated ones joined with commas."""
        found: dict[str, list[str]] = {}
        for raw_name, raw_value in scope.get("headers", ()):
            name = raw_name.decode("latin1").lower()
            if name in self.wanted:
                found.setdefault(name, []).append(raw_value.decode("latin1"))
        return {name: ",".join(values) for name, values in found.items()}

    def _secure(self, scope, headers: dict[str, str]) -> bool:
        """HttpRequest.is_secure(), for this request."""
        if self.proxy_header is not None and (value := headers.get(self.proxy_header)) is not None:
            return value.split(",", 1)[0].strip() == self.proxy_secure
        return scope.get("scheme", "http") == "https"

    def answer(self, scope, route: LeanRoute) -> LeanAnswer | None:
        """The answer to this GET, or None to let the full path answer it. On the view thread."""
        headers = self._headers(scope)
        if "transfer-encoding" in headers or not route.view.lean_accepts(headers.get("accept")):
            return None
        host = headers.get("host")
        allowed = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
        domain = split_domain_port(host)[0] if host else ""
        if not domain or not validate_host(domain, allowed):
            return None
        secure = self._secure(scope, headers)
        if settings.SECURE_SSL_REDIRECT and not secure:
            return None
        with request_id_bound(headers.get("x-request-id", "")) as request_id:
            signals.request_started.send(sender=self.handler_class, scope=scope)
            started = time.perf_counter()
            try:
                try:
                    body = route.view.lean_body(headers.get("authorization"))
                except Exception:  # the full path answers whatever went wrong, as it always has
                    logger.warning("lean GET of %s failed; the full path answers it", route.path, exc_info=True)
                    body = None
                if body is not None:
                    request_observed("GET", route.path, route.route, 200, time.perf_counter() - started)
            finally:
                signals.request_finished.send(sender=self.handler_class)
        if body is None:
            scope[TRIED] = True
            return None
        answer_headers = [
            (b"Content-Type", route.view.lean_content_type.encode()),
            (b"Allow", route.allow),
            *self.headers[secure],
            (REQUEST_ID_HEADER.encode(), request_id.encode()),
        ]
        if self.content_length:
            answer_headers.append((b"Content-Length", str(len(body)).encode()))
        return LeanAnswer(200, answer_headers, body)
