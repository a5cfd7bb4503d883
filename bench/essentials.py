"""A reference point between the floor and the app: the work every webhook request must do.

It reads the signed form as the app does (ivr.web.TwilioRequest), checks Twilio's signature
with the app's own code (ivr.security), writes the app's JSON log line (ivr.logs) and answers
the floor's constant TwiML: no flow, no engine, no rendering. Served with the same gunicorn
command line, it shows how much of the distance from the floor to the app is the price of
security and logs, and how much is the phone menu itself.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request

from bench.floor import TWIML
from ivr.logs import call_ref, emit, get_logger
from ivr.security import SIGNATURE_HEADER, is_signed_by_twilio, signed_url
from ivr.web import TwilioRequest


def create_app() -> Flask:
    token = os.environ["TWILIO_AUTH_TOKEN"]
    public_url = os.environ.get("IVR_PUBLIC_URL")
    log_key = os.environ.get("IVR_LOG_KEY", "bench").encode()
    log = get_logger()
    app = Flask(__name__)
    app.request_class = TwilioRequest

    @app.before_request
    def check_signature() -> Response | None:
        g.started = time.perf_counter()
        url = signed_url(public_url, request.scheme, request.host, request.full_path)
        if is_signed_by_twilio(token, url, request.form, request.headers.get(SIGNATURE_HEADER)):
            return None
        return Response("Forbidden\n", status=403, content_type="text/plain; charset=utf-8")

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        fields = {
            "route": "step",
            "node": "main",
            "lang": "nl",
            "outcome": "option",
            "latency_ms": round((time.perf_counter() - g.started) * 1000, 2),
            "call": call_ref(log_key, request.form.get("CallSid")),
        }
        emit(log, 20, "turn", fields)
        return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")

    return app
