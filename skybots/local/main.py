"""`skybots dev` as a process: the local runtime behind uvicorn until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import logging

import uvicorn

from skybots.api.observability import configure_logging
from skybots.local.runtime import StartingBot, build, ensure_bot, running
from skybots.settings import LocalSettings

log = logging.getLogger("skybots.dev")


async def serve(host: str, port: int, starting: StartingBot | None, *, log_format: str = "plain") -> None:
    configure_logging(plain=log_format == "plain")
    for chatty in (
        "httpx",
        "apscheduler",
        "uvicorn.access",
    ):  # every request and tick: the access log has them
        logging.getLogger(chatty).setLevel(logging.WARNING)
    settings = LocalSettings()
    url = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    runtime = build(settings, url)
    server = uvicorn.Server(
        uvicorn.Config(runtime.app, host=host, port=port, lifespan="off", log_config=None)
    )
    async with running(runtime):
        if starting is not None:
            try:
                bot = await ensure_bot(runtime, starting)
            except ValueError as error:
                raise SystemExit(f"skybots dev: {error}") from None
            mode = "live" if starting.live else "a dry run"
            log.info("bot %s watches #%s as %s (%s)", bot["name"], starting.hashtag, starting.handle, mode)
        log.info("skybots dev: %s (state in %s; development only)", url, settings.data_dir)
        await server.serve()
