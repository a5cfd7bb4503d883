"""The idiomatic peer: a Flask webhook written as Twilio's "secure your Flask app" guide writes it.

A decorator validates every request with ``RequestValidator(token).validate(url, request.form,
signature)``; the view builds a ``VoiceResponse`` with a ``<Gather>`` holding two ``<Say>``s per
request, and writes one log line. Served with the Procfile's own server command, it is what the
phone menu is measured against: the same work any careful Twilio webhook does, with no menu.

The guide validates ``request.url``; behind a proxy (and here, where the load generator signs for
the public URL) that URL is rebuilt from the public base, as the guide advises.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, Response, abort, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

ACTION = "/voice/step?flow=helpline&lang=nl&ni=0&node=main&t=0&wk=0"


def validate_twilio_request(f: Callable[..., Any]) -> Callable[..., Any]:
    """Validates that incoming requests genuinely originated from Twilio."""

    @wraps(f)
    def decorated_function(*args: Any, **kwargs: Any) -> Any:
        validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
        url = os.environ["IVR_PUBLIC_URL"] + request.full_path.rstrip("?")
        if validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
            return f(*args, **kwargs)
        return abort(403)

    return decorated_function


def create_app() -> Flask:
    app = Flask(__name__)
    log = logging.getLogger("peer")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)

    @app.post("/", defaults={"path": ""})
    @app.post("/<path:path>")
    @validate_twilio_request
    def answer(path: str) -> Response:
        response = VoiceResponse()
        gather = response.gather(action=ACTION, method="POST", input="dtmf", num_digits=1, timeout=6)
        gather.say("Voor uitleg over de soorten hulp, druk 1.", voice="Polly.Lisa-Neural", language="nl-BE")
        gather.say("Om nu met iemand te praten, druk 0.", voice="Polly.Lisa-Neural", language="nl-BE")
        response.redirect(ACTION, method="POST")
        log.info("answered %s", request.path)
        return Response(str(response), content_type="text/xml")

    return app
