"""The application: settings → engine, templates, middleware, routers, error handlers."""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from app.core.clock import utcnow
from app.core.db import make_engine, session_factory
from app.core.errors import install_error_handlers
from app.core.i18n import LocaleMiddleware, compile_catalogs
from app.core.settings import Settings, get_settings
from app.core.templating import STATIC_DIR, build_templates
from app.site import routes as site_routes
from app.territory import api as territory_api
from app.territory import routes as territory_routes

API_DESCRIPTION = """API of Carreau, the citizen participation platform of the Bassin minier.

Errors are `application/problem+json` (RFC 9457)."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    compile_catalogs()
    app = FastAPI(
        title="Carreau",
        version="0.1.0",
        description=API_DESCRIPTION,
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.database_url)
    app.state.session_factory = session_factory(app.state.engine)
    app.state.clock = utcnow
    app.state.templates = build_templates(settings)
    app.add_middleware(LocaleMiddleware, default_locale=settings.default_locale)
    install_error_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(site_routes.router)
    app.include_router(site_routes.api_router)
    app.include_router(territory_routes.router)
    app.include_router(territory_api.router)
    return app
