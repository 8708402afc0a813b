"""The pages a visitor sees before the web app: home, sign-in and privacy; the stylesheet; the SPA.

The pages are Jinja2 templates (templates/pages/) on one layout, styled by static/site.css,
which Tailwind builds from these templates (`make css`; the built file is committed, so a
plain `pip install` serves it). `/app/` serves the SPA's built files, falling back to its
index.html for client-side routes; without a build it says so instead of a bare 404.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from starlette.routing import WebSocketRoute

from skybots.api.oidc import same_site_path
from skybots.settings import ApiSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
BUILT_SPA = STATIC / "app"
HOT_RELOAD_SCRIPT = Markup('<script src="/hot-reload.js"></script>')

# Codes the sign-in flow redirects with (/sign-in?error=<code>). Anything else gets the generic
# message: the code itself is never shown, so a crafted link cannot put words on the page.
SIGN_IN_ERRORS = {
    "invalid_state": "That sign-in expired, was already used, or was started in another tab or browser. "
    "Please sign in again.",
    "access_denied": "The sign-in was cancelled at Google.",
    "provider_error": "Google could not complete the sign-in. Please try again in a moment.",
    "invalid_id_token": "Google's answer could not be verified. Please try again in a moment.",
    "email_not_verified": "Your Google account's email address is not verified yet. "
    "Verify it with Google, then sign in again.",
    "not_allowed": "This skybots is open to invited people only, and your address is not on its list. "
    "Ask whoever runs it to add you.",
}
GENERIC_SIGN_IN_ERROR = "The sign-in did not work. Please try again."


def spa_directory(settings: ApiSettings) -> Path | None:
    """Where the SPA's build is: the setting, else the copy shipped in the package; None when absent."""
    directory = Path(settings.spa_dir) if settings.spa_dir else BUILT_SPA
    if (directory / "index.html").is_file():
        return directory
    if settings.spa_dir:
        log.warning("SKYBOTS_SPA_DIR=%s holds no index.html: /app/ says the web app is not built", directory)
    return None


def router(settings: ApiSettings, *, local_sign_in: bool = False) -> APIRouter:
    """The pages, /static, /app and, with `dev_reload`, a reload socket that the pages listen to.

    `local_sign_in`: the sign-in page offers the local developer's sign-in (`skybots dev` only).
    """
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
    )
    environment.globals["hot_reload"] = HOT_RELOAD_SCRIPT if settings.dev_reload else ""
    environment.globals["local_runtime"] = local_sign_in
    environment.globals["sign_in_query"] = ""  # where sign-in returns to: the sign-in page sets it
    templates = Jinja2Templates(env=environment)
    pages = _with_hot_reload() if settings.dev_reload else APIRouter(include_in_schema=False)

    def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return templates.TemplateResponse(request, f"pages/{name}", context, status_code=status_code)

    @pages.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> HTMLResponse:
        return page(request, "home.html")

    @pages.get("/sign-in", response_class=HTMLResponse)
    async def sign_in(
        request: Request,
        error: str | None = None,
        next_path: Annotated[str | None, Query(alias="next")] = None,
    ) -> HTMLResponse:
        """`next`: the page to return to once signed in (the web app sends a signed-out browser here)."""
        message = None if error is None else SIGN_IN_ERRORS.get(error, GENERIC_SIGN_IN_ERROR)
        code = error if error in SIGN_IN_ERRORS else None
        query = "" if next_path is None else "?next=" + quote(same_site_path(next_path), safe="/")
        return page(request, "sign_in.html", error=message, error_code=code, sign_in_query=query)

    @pages.get("/privacy", response_class=HTMLResponse)
    async def privacy(request: Request) -> HTMLResponse:
        return page(request, "privacy.html")

    pages.mount("/static", StaticFiles(directory=STATIC), name="static")

    spa = spa_directory(settings)
    if spa is not None:
        # Files first; a path that is no file gets index.html when a browser navigates to it
        # (Accept: text/html), and a 404 otherwise, so a missing script is not answered with HTML.
        pages.frontend("/app", directory=spa, fallback="index.html", check_dir=True)
    else:

        @pages.get("/app/{path:path}", response_class=HTMLResponse)
        async def app_not_built(request: Request, path: str) -> HTMLResponse:
            return page(request, "app_not_built.html", status_code=503)

    return pages


def _with_hot_reload() -> APIRouter:
    """Development: pages reload themselves when a template or the stylesheet changes (arel).

    arel's script is served as a file of this site, not inline, so the pages' policy (no inline
    scripts, security_headers.py) holds in development too.
    """
    import arel

    hot_reload = arel.HotReload(paths=[arel.Path(str(TEMPLATES)), arel.Path(str(STATIC))])

    @asynccontextmanager
    async def watching(_: Any) -> AsyncIterator[None]:
        await hot_reload.startup()
        try:
            yield
        finally:
            await hot_reload.shutdown()

    pages = APIRouter(include_in_schema=False, lifespan=watching)
    pages.routes.append(WebSocketRoute("/hot-reload", hot_reload, name="hot_reload"))

    @pages.get("/hot-reload.js")
    async def hot_reload_script(request: Request) -> Response:
        socket = request.base_url.replace(scheme="wss" if request.url.scheme == "https" else "ws")
        tag = hot_reload.script(f"{socket}hot-reload")
        script = tag.strip().removeprefix("<script>").removesuffix("</script>")
        return Response(script, media_type="text/javascript")

    return pages
