"""helpline-ivr: a Twilio phone menu that guides callers in Belgium to emotional support."""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(settings: object = None) -> object:
    """Shortcut for :func:`ivr.app.create_app` (imported lazily so the CLI starts fast)."""
    from ivr.app import create_app as factory

    return factory(settings)  # type: ignore[arg-type]
