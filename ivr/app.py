"""The application factory: ``create_app(settings=None)``, as in Flask's own tutorial.

Everything is loaded and checked here, once: a broken flow or config stops the service
from starting (so a deploy fails visibly) instead of failing a caller.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from flask import Flask, Response, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.audio_web import EXTENSION as AUDIO_EXTENSION
from ivr.audio_web import install_audio, load_prompt_audio
from ivr.errors import ConfigErrors
from ivr.guard import install_guard
from ivr.loader import load_catalog
from ivr.logs import configure_logging, get_logger
from ivr.service import EXTENSION, Service, build_service, now_utc
from ivr.settings import Settings
from ivr.simulator import STATE as SIMULATOR_STATE
from ivr.simulator import SimulatorState, install_simulator
from ivr.stats.admin import bp as admin_bp
from ivr.stats.web import install_stats, reload_stats
from ivr.web import bp, refuse_other_methods


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = now_utc) -> Flask:
    """Build the app from ``settings`` (default: the environment); ``clock`` is the time its calls are at.

    Raises:
        SettingsError: a required setting is missing (e.g. TWILIO_AUTH_TOKEN).
        ConfigErrors: the flows or config files have errors (all of them are listed).
    """
    log = configure_logging()
    settings = settings or Settings.from_env()
    catalog = load_catalog(settings.config_dir, settings.flows_dir)
    app = Flask(__name__)
    # Twilio's requests are url-encoded forms of a few kB: a larger body gets 413 before it is
    # read. (Werkzeug applies the form limits below to multipart bodies only.)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, MAX_FORM_MEMORY_SIZE=64 * 1024, MAX_FORM_PARTS=100)
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]
    svc = build_service(settings, catalog, install_audio(app, settings, catalog).url_for, clock)  # <Play> when built
    app.extensions[EXTENSION] = svc
    install_guard(app, settings)  # the operator pages' guard, and the summary of refused signatures
    app.register_blueprint(bp)
    install_simulator(app)  # /simulator: open in dev mode, else behind IVR_ADMIN_PASSWORD, else 404
    install_stats(app, settings, catalog)  # counts each webhook request; /voice/status, /metrics
    app.register_blueprint(admin_bp)  # /admin: open in dev mode, else behind IVR_ADMIN_PASSWORD, else 404

    app.register_error_handler(405, refuse_other_methods)  # routing errors never reach a blueprint's handlers

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", flows=sorted(app.extensions[EXTENSION].catalog.flows))

    if settings.dev_mode and settings.auth_token is None:
        log.warning("IVR_DEV_MODE is on and TWILIO_AUTH_TOKEN is not set: signature checks are OFF")
    log.info("service ready", extra={"count": len(catalog.flows)})
    return app


def reload_app(app: Flask) -> bool:
    """Load and check the flows, settings and helplines on disk again, and serve them if they are valid.

    gunicorn calls this in its master on ``kill -HUP`` (see ivr.serving), before it forks the
    new workers. When anything is wrong, nothing changes: the app keeps what it served, and
    the log says why the files were not taken. Returns whether they were.
    """
    log = get_logger()
    old: Service = app.extensions[EXTENSION]
    settings = old.settings
    try:
        catalog = load_catalog(settings.config_dir, settings.flows_dir)
        audio = load_prompt_audio(settings, catalog)
        svc = build_service(settings, catalog, audio.url_for, old.engine.clock)  # a moment `ivr simulate --at` chose stays
    except ConfigErrors as exc:
        log.error(
            "reload refused: the files on disk have errors; still serving what was loaded before",
            extra={"error": [str(error) for error in exc.errors]},
        )
        return False
    except Exception as exc:  # noqa: BLE001 - whatever failed, the running service must stay as it was
        log.error("reload refused: still serving what was loaded before", exc_info=exc)
        return False
    app.extensions[AUDIO_EXTENSION] = audio
    app.extensions[SIMULATOR_STATE] = SimulatorState()  # its diagrams and prompt index were of the old flows
    app.extensions[EXTENSION] = svc
    reload_stats(app, catalog)  # count against the new flows
    log.info("reloaded: serving the files on disk", extra={"count": len(catalog.flows)})
    return True
