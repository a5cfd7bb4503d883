"""The floor for the load benchmark: the least a Flask app under gunicorn can do for Twilio.

One constant TwiML document for every path and method: no flow, no signature check, no
logging. Served with the same gunicorn command line and settings as the real app, it
measures what gunicorn, Flask and the machine cost on their own, so that the benchmark can
say how much the phone menu adds. The document has the size and shape of a real menu
(a <Gather> and the <Redirect> a silent caller follows), so the load generator's callers
follow it exactly as they follow the real app's answers.
"""

from __future__ import annotations

from flask import Flask, Response

STATE = "/voice/step?flow=helpline&amp;lang=nl&amp;ni=0&amp;node=main&amp;t=0&amp;wk=0"
TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response>'
    f'<Gather action="{STATE}" finishOnKey="" input="dtmf" method="POST" numDigits="1" timeout="6">'
    '<Say language="nl-BE" voice="Polly.Lisa-Neural">Voor uitleg over de soorten hulp, druk 1. '
    "Om nu met iemand te praten, druk 0.</Say></Gather>"
    f'<Redirect method="POST">{STATE}</Redirect></Response>'
)


def create_app() -> Flask:
    app = Flask(__name__)

    @app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @app.route("/<path:path>", methods=["GET", "POST"])
    def answer(path: str) -> Response:
        return Response(TWIML, status=200, content_type="text/xml; charset=utf-8")

    return app
