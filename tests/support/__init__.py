"""What the tests share besides fixtures (those stay in conftest.py): acting as Twilio, the shipped config
and edited copies of it, the service run for real, a real browser. ``from support import …``."""

from support.browser import CHROMIUM_ARGS, chromium_path
from support.config import (
    DATA,
    ROOT,
    SHIPPED_CONFIG,
    SHIPPED_FLOWS,
    app_for,
    config_copy,
    shipped_checkout,
    shipped_settings,
    with_speech_on,
    with_transfer_targets,
)
from support.serving import (
    SERVING_TOKEN,
    free_port,
    gunicorn_processes,
    procfile_command,
    procfile_env,
    procfile_web,
    serving,
    signed_call,
    wait_for_workers,
)
from support.twilio import (
    CALL,
    PUBLIC,
    TOKEN,
    TwilioClient,
    TwiML,
    assert_twiml_a_caller_can_follow,
    assert_valid_twiml,
    digits_in,
)

__all__ = [
    "CALL",
    "CHROMIUM_ARGS",
    "DATA",
    "PUBLIC",
    "ROOT",
    "SERVING_TOKEN",
    "SHIPPED_CONFIG",
    "SHIPPED_FLOWS",
    "TOKEN",
    "TwiML",
    "TwilioClient",
    "app_for",
    "assert_twiml_a_caller_can_follow",
    "assert_valid_twiml",
    "chromium_path",
    "config_copy",
    "digits_in",
    "free_port",
    "gunicorn_processes",
    "procfile_command",
    "procfile_env",
    "procfile_web",
    "serving",
    "shipped_checkout",
    "shipped_settings",
    "signed_call",
    "wait_for_workers",
    "with_speech_on",
    "with_transfer_targets",
]
