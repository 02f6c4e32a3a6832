"""The operator dashboard: a Flask app built from settings and services, one blueprint per area."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, NotFound

from alerts import AlertNotFound
from alerts.utc import utc_text
from finetune.registry import RegistryError
from dashboard import alerts_views, api, auth, cameras_views, media, notifications_views, users_views
from dashboard.context import DashboardServices, DashboardSettings
from dashboard.filters import SqlIntConverter
from dashboard.json_bodies import BoundedJSONProvider
from dashboard.metrics import register_metrics
from dashboard.proxies import TrustedProxies
from dashboard.recordings_views import register_recordings
from dashboard.throttle import LoginThrottle
from dashboard.time_range import BadRange

__all__ = ["DashboardServices", "DashboardSettings", "create_app", "largest_request_body"]


def create_app(settings: DashboardSettings, services: DashboardServices) -> Flask:
    """Build the dashboard; it holds no state of its own beyond the login throttle.

    Example:
        >>> settings = DashboardSettings(secret_key=token_bytes(32), media_dir=Path("data/media"))  # doctest: +SKIP
        >>> app = create_app(settings, DashboardServices(store, UserStore(store.engine)))  # doctest: +SKIP
        >>> waitress.serve(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
    """
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="vigil_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.session_cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_max_s),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_request_bytes,
    )
    app.json = BoundedJSONProvider(app)
    app.url_map.converters["int"] = SqlIntConverter
    app.wsgi_app = TrustedProxies(app.wsgi_app, settings.trusted_proxies)  # type: ignore[method-assign]
    app.extensions["vigil.settings"] = settings
    app.extensions["vigil.services"] = services
    register_metrics(app, services)
    app.extensions["vigil.throttle"] = LoginThrottle(
        settings.login_max_attempts, settings.login_address_max_attempts, settings.login_window_s,
        settings.login_backoff_max_s, settings.clock,
    )
    for blueprint in (auth.bp, alerts_views.bp, cameras_views.bp, api.bp, media.bp, users_views.bp,
                      notifications_views.bp):
        app.register_blueprint(blueprint)
    if services.recordings is not None:
        register_recordings(app, services.recordings)
    app.add_template_filter(utc_text, "utc")
    app.add_template_global(media.alert_media_url)
    app.register_error_handler(HTTPException, _error_response)
    app.register_error_handler(AlertNotFound, lambda error: _error_response(NotFound(str(error))))
    app.register_error_handler(RegistryError, lambda error: _error_response(InternalServerError(str(error))))
    app.register_error_handler(BadRange, lambda error: _error_response(BadRequest(str(error))))
    return app


def largest_request_body(app: Flask) -> int:
    """The most bytes any request to `app` may carry: the app-wide limit, or a view's own (uploads) if larger."""
    limits = [getattr(view, "vigil_max_body", None) for view in app.view_functions.values()]
    with app.app_context():
        return max([app.config["MAX_CONTENT_LENGTH"], *(limit() for limit in limits if limit is not None)])


def _error_response(error: HTTPException) -> Any:
    """JSON `{"error": …}` under /api/, an HTML page elsewhere, with the error's status and headers (Retry-After,
    Allow)."""
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    if request.path.startswith("/api/"):
        return jsonify(error=error.description), error.code, headers
    return render_template("error.html", error=error), error.code, headers
