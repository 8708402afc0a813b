"""What the API tells its operators: JSON logs with a request id, Prometheus metrics, Sentry."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from skybots import __version__
from skybots.api.sessions import CSRF_HEADER

REQUEST_ID_HEADER = "X-Request-ID"
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: int = logging.INFO, *, plain: bool = False) -> None:
    """JSON lines on stderr, each with the id of the request it belongs to; or, for a person at a
    terminal (`skybots dev`), plain lines."""
    handler = logging.StreamHandler()
    if plain:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    else:
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(_RequestId())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Metrics:
    """The API's metrics, in a registry of its own (one per app, so tests stay apart)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "skybots_api_requests_total",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "skybots_api_request_duration_seconds",
            "HTTP request latency by route",
            ["route", "method"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=self.registry,
        )
        self.owners: Callable[[], list[str]] = list  # the owner of every bot, one entry per bot
        self.registry.register(_UsersByBotCount(lambda: self.owners()))

    def serve(self, port: int) -> Callable[[], None]:
        """Serve /metrics on a port of its own, apart from the public one the Ingress routes; returns `stop`."""
        server, thread = start_http_server(port, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            thread.join()

        return stop


class _UsersByBotCount(Collector):
    """skybots_api_users_by_bot_count{bots}: how many users have N bots, counted at scrape time."""

    def __init__(self, owners: Callable[[], list[str]]) -> None:
        self._owners = owners

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "skybots_api_users_by_bot_count", "How many users have N bots", labels=["bots"]
        )
        for bots, users in sorted(Tally(Tally(self._owners()).values()).items()):
            family.add_metric([str(bots)], users)
        yield family


def install(app: FastAPI, metrics: Metrics) -> None:
    """Request ids (taken from the caller's header or made), access logs and metrics for every request."""
    log = logging.getLogger("skybots.api.access")

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        rid = request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex
        token = request_id.set(rid)
        try:
            started = time.perf_counter()
            response = await call_next(request)
            elapsed = time.perf_counter() - started
            # The matched route's template (/api/bots/{name}): no series per bot.
            route = str(getattr(request.scope.get("route"), "path", "unmatched"))
            metrics.requests.labels(route, request.method, str(response.status_code)).inc()
            metrics.latency.labels(route, request.method).observe(elapsed)
            response.headers[REQUEST_ID_HEADER] = rid
            log.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={"status": response.status_code, "duration_ms": round(elapsed * 1000, 1)},
            )
            return response
        finally:
            request_id.reset(token)


def init_sentry(dsn: str) -> None:
    """Errors to Sentry, without request bodies or local variables (they carry app passwords), cookies,
    users or the CSRF token (Sentry's own list of headers to scrub spells it differently)."""
    import sentry_sdk
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,  # frames of the request hold its body
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, CSRF_HEADER.lower()]),
        traces_sample_rate=0.0,
        release=f"skybots@{__version__}",
    )
