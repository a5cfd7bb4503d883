"""The application factory: ``create_app(settings=None)``, as in Flask's own tutorial.

Everything is loaded and checked here, once: a broken flow or config stops the service
from starting (so a deploy fails visibly) instead of failing a caller.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from flask import Flask, Response, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from ivr.audio_web import AUDIO_EXTENSION, install_audio, load_prompt_audio
from ivr.errors import ConfigErrors
from ivr.guard import install_guard
from ivr.loader import load_catalog
from ivr.logs import configure_logging, get_logger
from ivr.model import Catalog
from ivr.service import LOADED, SERVICE_EXTENSION, Service, build_service, now_utc
from ivr.settings import Settings, SettingsError
from ivr.simulator import STATE as SIMULATOR_STATE
from ivr.simulator import SimulatorState, install_simulator
from ivr.startup import RESTART_HINT, Loaded, content_hash
from ivr.stats.admin import bp as admin_bp
from ivr.stats.web import install_stats, reload_stats
from ivr.status_web import bp as status_bp
from ivr.web import bp, refuse_other_methods


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = now_utc) -> Flask:
    """Build the app from ``settings`` (default: the environment); ``clock`` is the time its calls are at.

    Raises:
        SettingsError: a required setting is missing (e.g. TWILIO_AUTH_TOKEN).
        ConfigErrors: the flows or config files have errors (all of them are listed).
    """
    log = configure_logging()
    try:
        settings = settings or Settings.from_env()
        catalog = load_catalog(settings.config_dir, settings.flows_dir)
        return _create(settings, catalog, clock, log)
    except (SettingsError, ConfigErrors) as exc:
        # Both are RuntimeErrors: under gunicorn they end in its one "Error: …" line, not a traceback.
        log.error("start-up refused: " + first_error(exc), extra={"error": error_lines(exc)})
        raise


def _create(settings: Settings, catalog: Catalog, clock: Callable[[], datetime], log: logging.Logger) -> Flask:
    loaded = Loaded(content_hash(settings.config_dir, settings.flows_dir), datetime.now(UTC))
    app = Flask(__name__)
    # Twilio's requests are url-encoded forms of a few kB: a larger body gets 413 before it is
    # read. (Werkzeug applies the form limits below to multipart bodies only.)
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, MAX_FORM_MEMORY_SIZE=64 * 1024, MAX_FORM_PARTS=100)
    if settings.trust_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_proto=1, x_host=1)  # type: ignore[method-assign]
    svc = build_service(settings, catalog, install_audio(app, settings, catalog).url_for, clock)  # <Play> when built
    app.extensions[SERVICE_EXTENSION] = svc
    app.extensions[LOADED] = loaded
    install_guard(app, settings)  # the operator pages' guard, and the summary of refused signatures
    app.register_blueprint(bp)
    install_simulator(app)  # /simulator: open in dev mode, else behind IVR_ADMIN_PASSWORD, else 404
    install_stats(app, settings, catalog)  # counts each webhook request; /voice/status, /metrics
    app.register_blueprint(admin_bp)  # /admin: open in dev mode, else behind IVR_ADMIN_PASSWORD, else 404
    app.register_blueprint(status_bp)  # /admin/status.json, for `ivr status`: behind the same guard

    app.register_error_handler(405, refuse_other_methods)  # routing errors never reach a blueprint's handlers

    @app.get("/healthz")
    def healthz() -> Response:
        # What is served and since when, and when a reload was last refused: never why (see /admin, `ivr status`).
        return jsonify(
            status="ok", flows=sorted(app.extensions[SERVICE_EXTENSION].catalog.flows), **app.extensions[LOADED].public()
        )

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
    old: Service = app.extensions[SERVICE_EXTENSION]
    settings = old.settings
    content = content_hash(settings.config_dir, settings.flows_dir)
    try:
        catalog = load_catalog(settings.config_dir, settings.flows_dir)
        audio = load_prompt_audio(settings, catalog)
        # A moment `ivr simulate --at` chose stays, and so does the text-message sender (its counters, its sends under way).
        svc = build_service(settings, catalog, audio.url_for, old.engine.clock, old.texts)
    except (ConfigErrors, SettingsError) as exc:
        reason = first_error(exc)
        if isinstance(exc, SettingsError):
            reason += f" ({RESTART_HINT})"  # the environment is the one read at start
        _refused(app, log, reason, error_lines(exc))
        return False
    except Exception as exc:  # noqa: BLE001 - whatever failed, the running service must stay as it was
        _refused(app, log, f"{type(exc).__name__} while loading the files", [], exc)
        return False
    app.extensions[AUDIO_EXTENSION] = audio
    app.extensions[SIMULATOR_STATE] = SimulatorState()  # its diagrams and prompt index were of the old flows
    app.extensions[SERVICE_EXTENSION] = svc
    reload_stats(app, catalog)  # count against the new flows
    app.extensions[LOADED] = replace(app.extensions[LOADED], content=content, loaded_at=datetime.now(UTC))  # refusals stay
    log.info("reloaded: serving the files on disk", extra={"count": len(catalog.flows)})
    return True


def _refused(app: Flask, log: logging.Logger, reason: str, errors: list[str], exc: Exception | None = None) -> None:
    """Keep serving what was loaded; remember when and why for /healthz (when) and the operator pages (why)."""
    app.extensions[LOADED] = replace(app.extensions[LOADED], refused_at=datetime.now(UTC), refused_reason=reason)
    log.error(f"reload refused: {reason}; still serving what was loaded before", exc_info=exc, extra={"error": errors})


def first_error(exc: SettingsError | ConfigErrors) -> str:
    """The first problem, on one line: ``file:line:column: path: message`` (a settings error is one already)."""
    if isinstance(exc, ConfigErrors) and exc.errors:
        return str(exc.errors[0]).split("\n", 1)[0]
    return str(exc).split("\n", 1)[0]


def error_lines(exc: SettingsError | ConfigErrors) -> list[str]:
    return [str(error) for error in exc.errors] if isinstance(exc, ConfigErrors) else [str(exc)]
