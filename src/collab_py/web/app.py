"""The FastAPI application of an org's platform: the API (``/api/v1``, OpenAPI at ``/openapi.json``), the web UI,
its static files, and one error body for every refusal."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from collab_py.exceptions import CollabError
from collab_py.web import api, ui
from collab_py.web.errors import ErrorBody, Unauthenticated, body_of, status_of, validation_body
from collab_py.web.runtime import Platform

log = logging.getLogger("collab.web")
STATIC = Path(__file__).with_name("static")


def create_app(platform: Platform, *, secure_cookies: bool | None = None, start_engine: bool = True) -> FastAPI:
    """The org's platform as an ASGI application; the engine runs while the application does."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_engine:
            platform.start()
        try:
            yield
        finally:
            if start_engine:
                platform.stop()

    app = FastAPI(
        title=f"collab platform — org {platform.org_id}",
        version="1",
        description="The department platform of one member org (P1): every step and read of the `collab` command, "
        "each department's inbox, lists with filters and keyset pagination, books and reconciliation. "
        "Authenticate with `Authorization: Bearer TOKEN`; send `Idempotency-Key` with every POST. Every refusal is "
        "an `ErrorBody` whose `error` is the contract error's name for a refusal of the chain.",
        lifespan=lifespan,
        docs_url=None,  # served below from this package: FastAPI's pages load their scripts from a CDN
        redoc_url=None,
    )

    @app.get("/docs", include_in_schema=False)
    def docs() -> Response:
        """The API's interactive documentation (Swagger UI), its scripts served here: usable on a network without
        the internet."""
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url="/static/vendor/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui.css",
            swagger_favicon_url="data:,",
        )

    app.state.platform = platform
    app.state.secure_cookies = secure_cookies
    app.include_router(api.router)
    app.include_router(ui.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(CollabError)
    async def collab_error(request: Request, error: CollabError) -> Response:
        if isinstance(error, Unauthenticated) and _for_people(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return _error(request, status_of(error), body_of(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        return _error(request, 422, validation_body(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        names = {404: "NotFound", 405: "MethodNotAllowed", 401: "Unauthenticated"}
        return _error(request, error.status_code, ErrorBody(error=names.get(error.status_code, "HTTPError"),
                                                            message=str(error.detail)))  # fmt: skip

    @app.exception_handler(Exception)
    async def internal(request: Request, error: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(request, 500, body_of(error))

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True, "org_id": platform.org_id}

    return app


def _for_people(request: Request) -> bool:
    """Whether ``request`` is a page of the web UI (not the API, its schema or a static file)."""
    return not request.url.path.startswith(("/api/", "/static/", "/openapi.json", "/healthz"))


def _error(request: Request, status: int, body: ErrorBody) -> Response:
    """A refusal: its :class:`ErrorBody` for the API, a page saying it for a person."""
    if _for_people(request):
        return ui.render(request, "error.html", getattr(request.state, "principal", None), code=status,
                         status=status, failure=body)  # fmt: skip
    return JSONResponse(body.model_dump(), status_code=status)
