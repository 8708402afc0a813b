"""Run a Kopf operator in-process against the emulator: the pattern every operator test uses.

    settings = quick_settings()
    async with running_operator(registry, settings, str(cluster.url)):
        await cluster.post(api_path(BOTS, "ns"), json=bot)
        ...  # then wait for what the handlers should have written

Kopf facts this relies on: stopping is by the stop flag only (a cancelled operator schedules
a SIGKILL of the whole process after `settings.process.ultimate_exiting_timeout`), and on
stopping Kopf cancels every task created in its loop since it started, not only its own (so it runs
in a thread with a loop of its own).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import kopf

from skybots.operator.handlers import kopf_settings


def quick_settings() -> kopf.OperatorSettings:
    """The operator's Kopf settings, with timeouts that end a test in seconds."""
    settings = kopf_settings()
    # Watches end every second and resume from their last resourceVersion, as they do (rarer) in a cluster.
    settings.watching.server_timeout = 1
    settings.watching.client_timeout = 3
    settings.watching.connect_timeout = 1
    settings.networking.request_timeout = 5
    # Kopf retries a request that got 5xx, 403 or 429 or lost its connection once per backoff.
    settings.networking.error_backoffs = [0.1, 0.2, 0.5]
    settings.queueing.exit_timeout = 0.5
    settings.process.ultimate_exiting_timeout = None  # never SIGKILL the test run
    return settings


@contextlib.asynccontextmanager
async def running(
    start: Callable[[threading.Event, threading.Event], Coroutine[Any, Any, object]],
) -> AsyncIterator[None]:
    """Whatever `start(stop_flag, ready_flag)` runs, in a thread of its own, from ready to stopped.

    A thread with its own event loop, because Kopf, when stopping, cancels every task its loop
    started since it began, and in the test's loop that would include pytest's fixture teardown.
    Leaving the block re-raises whatever made it fail.
    """
    stop, ready = threading.Event(), threading.Event()
    outcome: concurrent.futures.Future[object] = concurrent.futures.Future()

    def serve() -> None:
        try:
            outcome.set_result(asyncio.run(start(stop, ready)))
        except BaseException as error:
            outcome.set_exception(error)

    thread = threading.Thread(target=serve, name="operator", daemon=True)
    thread.start()
    await asyncio.to_thread(lambda: ready.wait(60) or outcome.done())
    if outcome.done():
        outcome.result()  # it failed to start: say why
    try:
        yield
    finally:
        stop.set()
        await asyncio.to_thread(thread.join, 60)
        outcome.result()


def running_operator(
    registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings, url: str
) -> contextlib.AbstractAsyncContextManager[None]:
    """Kopf serving `registry` cluster-wide against the API server at `url`; adds a login handler."""

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url)

    return running(
        lambda stop, ready: kopf.operator(
            registry=registry,
            settings=settings,
            standalone=True,
            clusterwide=True,
            stop_flag=stop,
            ready_flag=ready,
        )
    )
