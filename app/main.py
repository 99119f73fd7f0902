"""The application: settings → engine, templates, middleware, routers, error handlers."""

from datetime import timedelta
from typing import Any

import redis
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app.accounts import api as accounts_api
from app.accounts import routes as accounts_routes
from app.accounts.oidc import build_oauth
from app.accounts.sessions import (
    DatabaseSessionStore,
    RedisSessionStore,
    ServerSessionMiddleware,
    SessionPolicy,
    SessionStore,
    cookie_name,
)
from app.actions import api as actions_api
from app.actions import routes as actions_routes
from app.assisted import api as assisted_api
from app.assisted import routes as assisted_routes
from app.backoffice import api as backoffice_api
from app.backoffice import routes as backoffice_routes
from app.consultations import api as consultations_api
from app.consultations import routes as consultations_routes
from app.core.clock import utcnow
from app.core.csrf import CsrfCookieMiddleware, csrf_token, verify_csrf
from app.core.db import SqliteWriters, make_engine, session_factory
from app.core.errors import API_ERRORS, install_error_handlers
from app.core.headers import SecurityHeadersMiddleware, content_security_policy
from app.core.i18n import LocaleMiddleware, compile_catalogs
from app.core.pagecache import PageCacheMiddleware
from app.core.ratelimit import RateLimiter
from app.core.settings import Settings, get_settings
from app.core.templating import STATIC_DIR, build_templates
from app.core.textinput import refuse_nul
from app.evaluation import api as evaluation_api
from app.evaluation import downloads as evaluation_downloads
from app.evaluation import programme as _programme  # noqa: F401  (registers its section of the axis pages)
from app.evaluation import routes as evaluation_routes
from app.evaluation import satisfaction_routes as evaluation_satisfaction
from app.moderation import api as moderation_api
from app.moderation import routes as moderation_routes
from app.notifications import api as notifications_api
from app.notifications import routes as notifications_routes
from app.proposals import api as proposals_api
from app.proposals import routes as proposals_routes
from app.site import routes as site_routes
from app.territory import api as territory_api
from app.territory import routes as territory_routes
from app.voting import api as voting_api
from app.voting import routes as voting_routes

API_DESCRIPTION = """API of Carreau, the citizen participation platform of the Bassin minier.

Browsers authenticate with the session cookie and send the CSRF token in the `X-CSRF-Token`
header on unsafe requests; programs send a personal access token (`Authorization: Bearer …`).
Errors are `application/problem+json` (RFC 9457)."""


def build_session_store(settings: Settings, app: FastAPI) -> SessionStore:
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url)
        return RedisSessionStore(client, idle=timedelta(minutes=settings.session_idle_minutes))
    return DatabaseSessionStore(lambda write=False: app.state.session_factory(write=write))


class Carreau(FastAPI):
    """FastAPI with the public page cache outside everything else: a fresh page is served before
    any other layer (FastAPI's own, error handling, body limits, the session…), which were most of
    what a cached page cost (see BENCHMARKS.md)."""

    page_cache_options: dict[str, Any] | None = None
    page_cache: PageCacheMiddleware | None = None

    def build_middleware_stack(self) -> Any:
        stack = super().build_middleware_stack()
        if self.page_cache_options is None:
            return stack
        self.page_cache = PageCacheMiddleware(stack, **self.page_cache_options)
        return self.page_cache

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.page_cache is not None and await self.page_cache.serve_fresh(scope, send):
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    compile_catalogs()
    app = Carreau(
        title="Carreau",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url=None,  # Swagger UI breaks under the CSP: app.site.routes.api_docs describes the API instead
        redoc_url=None,
        openapi_url="/openapi.json",
        dependencies=[Depends(verify_csrf), Depends(refuse_nul)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url, pool_size=settings.database_pool_size,
                                   max_overflow=settings.database_max_overflow)
    app.state.sqlite_writers = SqliteWriters() if app.state.engine.dialect.name == "sqlite" else None
    app.state.session_factory = session_factory(app.state.engine)
    app.state.clock = utcnow
    app.state.templates = build_templates(settings)
    app.state.templates.env.globals["csrf_token"] = csrf_token
    app.state.templates.env.globals["unread_notifications"] = notifications_routes.unread_count
    app.state.templates.env.globals["shows_back_office"] = backoffice_routes.shows_back_office
    app.state.oauth = build_oauth(settings)
    app.state.rate_limiter = RateLimiter(settings.redis_url)
    app.state.session_store = build_session_store(settings, app)

    # Added innermost first: locale, then the CSRF cookie, then the server-side session.
    policy = SessionPolicy(
        cookie_name=cookie_name(settings.is_https), secure=settings.is_https,
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )
    app.add_middleware(ServerSessionMiddleware, store=app.state.session_store, policy=policy, clock=utcnow)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.is_https)
    app.add_middleware(LocaleMiddleware, default_locale=settings.default_locale)
    csp = content_security_policy([provider.issuer for provider in settings.oidc_providers])
    app.add_middleware(SecurityHeadersMiddleware, csp=csp, hsts=settings.is_https)
    # Outermost (Carreau.build_middleware_stack), so that what it keeps is the answer as sent,
    # security headers included.
    app.page_cache_options = {"seconds": settings.page_cache_seconds, "session_cookie": policy.cookie_name,
                              "default_locale": settings.default_locale}
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(site_routes.theme_router)
    app.include_router(site_routes.router)
    app.include_router(site_routes.api_router, responses=API_ERRORS)
    app.include_router(territory_routes.router)
    app.include_router(territory_api.router, responses=API_ERRORS)
    app.include_router(accounts_routes.router)
    app.include_router(accounts_api.router, responses=API_ERRORS)
    for routes in (notifications_routes, consultations_routes, proposals_routes, voting_routes, moderation_routes,
                   actions_routes, assisted_routes, backoffice_routes, evaluation_satisfaction, evaluation_routes,
                   evaluation_downloads):
        app.include_router(routes.router)
    for api in (notifications_api, consultations_api, proposals_api, voting_api, moderation_api, actions_api,
                assisted_api, backoffice_api, evaluation_api):
        app.include_router(api.router, responses=API_ERRORS)
    return app
