"""The application factory: ``create_app(settings=None)``, as in Flask's own tutorial.

Everything is loaded and checked here, once: a broken flow or config stops the service
from starting (so a deploy fails visibly) instead of failing a caller.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.audio_web import install_audio
from ivr.engine import Engine
from ivr.loader import load_catalog
from ivr.logs import get_logger
from ivr.settings import Settings
from ivr.simulator import install_simulator
from ivr.stats.web import install_stats
from ivr.web import EXTENSION, Service, TwilioRequest, bp


def create_app(settings: Settings | None = None) -> Flask:
    """Build the app from ``settings`` (default: the environment).

    Raises:
        SettingsError: a required setting is missing (e.g. TWILIO_AUTH_TOKEN).
        ConfigErrors: the flows or config files have errors (all of them are listed).
    """
    settings = settings or Settings.from_env()
    log = get_logger()
    catalog = load_catalog(settings.config_dir, settings.flows_dir)
    app = Flask(__name__)
    app.request_class = TwilioRequest
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024  # Twilio's requests are small; refuse floods
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]
    svc = Service(settings=settings, catalog=catalog, engine=Engine(catalog))
    svc.build_rescues()
    svc.audio_url = install_audio(app, settings, catalog).url_for  # <Play> when built, else <Say>
    app.extensions[EXTENSION] = svc
    app.register_blueprint(bp)
    install_simulator(app)  # /simulator: open in dev mode, else behind IVR_ADMIN_PASSWORD, else 404
    install_stats(app, settings, catalog)  # counts each webhook request; /voice/status, /metrics, /admin

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", flows=sorted(catalog.flows))

    if settings.dev_mode and settings.auth_token is None:
        log.warning("IVR_DEV_MODE is on and TWILIO_AUTH_TOKEN is not set: signature checks are OFF")
    log.info("service ready", extra={"count": len(catalog.flows)})
    return app
