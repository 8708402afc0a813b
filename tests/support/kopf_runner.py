"""Run a Kopf operator in-process against the emulator: the pattern every operator test uses.

    settings = quick_settings()
    async with running_operator(registry, settings, str(cluster.url)):
        await cluster.post(api_path(BOTS, "ns"), json=bot)
        ...  # then wait for what the handlers should have written

Kopf facts this relies on: stopping is by the stop flag only (a cancelled operator schedules
a SIGKILL of the whole process after `settings.process.ultimate_exiting_timeout`), and on
stopping Kopf cancels every task created in the loop since it started, not only its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import kopf


def quick_settings() -> kopf.OperatorSettings:
    """Kopf settings for tests: the operator's persistence, and timeouts that end a test in seconds."""
    settings = kopf.OperatorSettings()
    # Persistence as the operator configures it: our own annotation prefix and finalizer.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="skybots.dev")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="skybots.dev", key="last-handled-configuration"
    )
    settings.persistence.finalizer = "skybots.dev/finalizer"
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
async def running_operator(
    registry: kopf.OperatorRegistry, settings: kopf.OperatorSettings, url: str
) -> AsyncIterator[None]:
    """Kopf serving `registry` cluster-wide against the API server at `url`, from ready to stopped.

    Adds a login handler to `registry`. Leaving the block re-raises whatever made Kopf fail.
    """

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url)

    stop, ready = asyncio.Event(), asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=registry,
            settings=settings,
            standalone=True,
            clusterwide=True,
            stop_flag=stop,
            ready_flag=ready,
        )
    )
    started = asyncio.create_task(ready.wait())
    try:
        await asyncio.wait([operator, started], return_when=asyncio.FIRST_COMPLETED)
        if operator.done():
            await operator  # it failed to start: say why
        yield
    finally:
        started.cancel()
        stop.set()
        await operator
        # Kopf leaves its signal handlers installed; give Ctrl+C back to pytest.
        loop = asyncio.get_running_loop()
        loop.remove_signal_handler(signal.SIGINT)
        loop.remove_signal_handler(signal.SIGTERM)
