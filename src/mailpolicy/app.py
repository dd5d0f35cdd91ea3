"""create_app(settings) -> the ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mailpolicy import __version__
from mailpolicy.access.ratelimit import RateLimiter
from mailpolicy.api import openapi
from mailpolicy.api.errors import install as install_error_handlers
from mailpolicy.api.guard import Limits, RequestGuard
from mailpolicy.api.routing import prepare_routes
from mailpolicy.audit import endpoints as audit_endpoints
from mailpolicy.config import Rules, Settings
from mailpolicy.dashboard import install as install_dashboard
from mailpolicy.db import Database
from mailpolicy.detect.pipeline import Detector
from mailpolicy.evaluation import endpoints as evaluation_endpoints
from mailpolicy.evaluation import scan as scan_endpoints
from mailpolicy.evaluation.snapshots import SnapshotCache
from mailpolicy.messages import endpoints as message_endpoints
from mailpolicy.messages.release import PostfixQueue
from mailpolicy.resources import REGISTRY
from mailpolicy.resources.router import make_router
from mailpolicy.stats import endpoints as stats_endpoints

API_PREFIX = "/client/v4"
DASHBOARD_PREFIX = "/dashboard"


# Bodies are always JSON here; `curl -d` labels them form data unless told otherwise, and a
# request should not fail over a label.
_RELABELLED = {b"", b"application/x-www-form-urlencoded", b"text/plain"}


class JsonBodies:
    """ASGI middleware: a body sent without a JSON content type is read as JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in {"POST", "PUT", "PATCH", "DELETE"}:
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            given = next((v for k, v in scope["headers"] if k == b"content-type"), b"")
            if given.split(b";")[0].strip().lower() in _RELABELLED:
                scope = {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
        await self.app(scope, receive, send)


def create_api(
    database: Database,
    rules: Rules,
    postfix: PostfixQueue,
    settings: Settings,
    detector: Detector,
) -> FastAPI:
    """The v4 API, mounted at /client/v4; its OpenAPI document is /client/v4/openapi.json.
    `detector` scans what POST /scan is given."""
    api = FastAPI(
        title="mailpolicy",
        version=__version__,
        summary="Email security settings, wire-compatible with Cloudflare's v4 API.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        redirect_slashes=False,
    )
    api.state.db = database
    api.state.rules = rules
    api.state.snapshots = SnapshotCache()
    api.state.postfix = postfix
    api.state.detector = detector
    api.state.trusted_authserv_id = settings.trusted_authserv_id
    api.state.milter_max_body_bytes = settings.milter_max_body_bytes
    api.add_middleware(JsonBodies)
    install_error_handlers(api)
    for spec, extra in REGISTRY:
        if extra is not None:
            api.include_router(extra)
        api.include_router(make_router(spec))
    api.include_router(evaluation_endpoints.router)
    api.include_router(scan_endpoints.router)
    api.include_router(stats_endpoints.router)
    api.include_router(audit_endpoints.router)
    api.include_router(message_endpoints.router)
    openapi.install(api)
    return api


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    database = Database(settings.database_url, settings.pool())
    rules = Rules(allow_private_ips=settings.allow_private_ips)

    detector = Detector(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        detector.close()
        database.dispose()

    app = FastAPI(
        title="mailpolicy",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=lifespan,
    )
    app.state.db = database
    app.state.rules = rules
    app.state.settings = settings
    install_error_handlers(app)
    limiter = None
    if settings.rate_limit:
        limiter = RateLimiter(database, settings.rate_limit, settings.rate_limit_window_seconds)
    # The dashboard counts its sessions' requests against their tokens' quotas with it.
    app.state.limiter = limiter
    app.add_middleware(
        RequestGuard,
        database=database,
        limits=Limits(max_body_bytes=settings.max_body_bytes, body_timeout=settings.body_timeout),
        limiter=limiter,
        forms=(DASHBOARD_PREFIX,) if settings.dashboard else (),
    )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "version": __version__})

    postfix = PostfixQueue(settings.postfix_config_dir, settings.postfix_command_prefix)
    api = create_api(database, rules, postfix, settings, detector)
    if settings.dashboard:
        install_dashboard(app, api)
    app.mount(API_PREFIX, api)
    prepare_routes(app, f"{API_PREFIX}/accounts/-/email-security/-/-/-/-")
    return app
