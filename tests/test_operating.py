"""Changing the line safely and seeing what is live: ``ivr validate`` and ``ivr reload`` check what start-up checks,
``/healthz`` says what is served, ``ivr status`` and ``/admin`` say what callers get now, ``ivr announce set`` in
Brussels time. Through the real CLI (click's runner), the app's own routes and reload, and the Procfile's process."""

from __future__ import annotations

import base64
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from ivr.app import create_app, reload_app
from ivr.cli import main
from ivr.settings import Settings, SettingsError
from support import DATA, free_port, procfile_command, procfile_env, procfile_web

SECRET = "sip-secret-never-shown"
CREDENTIALS = {"IVR_SIP_TO_NIGHT_USERNAME": "nacht-user", "IVR_SIP_TO_NIGHT_PASSWORD": SECRET}


def transfers_config(tmp_path: Path) -> Path:
    """The test config with fictional transfer targets: a SIP one that needs TO_NIGHT's credentials."""
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    shutil.copy(DATA / "transfers" / "helplines.yaml", config / "helplines.yaml")
    return config


def ivr(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    assert "Traceback" not in result.output, result.output
    return result.exit_code, result.output


# --- validate: what start-up checks, with start-up's words ----------------------------------------------


def test_validate_names_missing_sip_credentials_as_start_up_does(settings: Settings, tmp_path: Path) -> None:
    config = transfers_config(tmp_path)
    with pytest.raises(SettingsError) as start_up:
        create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows"))
    code, output = ivr("validate", "--config", str(config), "--flows", str(DATA / "flows"), TWILIO_AUTH_TOKEN="t")
    assert code == 1
    assert f"error: {start_up.value}" in output and "IVR_SIP_TO_NIGHT_USERNAME and IVR_SIP_TO_NIGHT_PASSWORD" in output
    assert "no errors" not in output

    code, output = ivr("validate", "--config", str(config), "--flows", str(DATA / "flows"), TWILIO_AUTH_TOKEN="t", **CREDENTIALS)
    assert code == 0 and "SIP credentials: every target's are in the environment" in output and "no errors" in output
    assert SECRET not in output and "nacht-user" not in output


def test_validate_outside_the_service_environment_says_the_credentials_were_not_checked(tmp_path: Path) -> None:
    config = transfers_config(tmp_path)
    code, output = ivr("validate", "--config", str(config), "--flows", str(DATA / "flows"))
    assert code == 0, output
    assert "SIP credentials not checked here" in output and "`ivr reload PID`" in output and "heroku run ivr validate" in output


def test_validate_warns_of_an_announcement_the_service_would_ignore(tmp_path: Path) -> None:
    flows = ("--config", str(DATA / "config"), "--flows", str(DATA / "flows"))
    broken = json.dumps({"text": {"nl": "Bel 106"}, "start": "2026-12-24T18:00+01:00", "end": "2026-12-25T08:00+01:00"})
    code, output = ivr("validate", *flows, TWILIO_AUTH_TOKEN="t", IVR_ANNOUNCEMENT=broken)
    assert code == 0 and "warning: announcement ignored: the nl text has a digit" in output
    assert "callers hear no announcement" in output


# --- reload, /healthz and /admin in the app ----------------------------------------------------------------


def admin(app: Flask, path: str, password: str | None = "pw") -> tuple[int, str]:
    headers = {"Authorization": "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()} if password else {}
    answer = app.test_client().get(path, headers=headers)
    return answer.status_code, answer.get_data(as_text=True)


def test_a_refused_reload_shows_when_on_healthz_and_why_only_behind_the_password(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    app = create_app(replace(settings, config_dir=config, flows_dir=DATA / "flows", admin_password="pw"))
    first = app.test_client().get("/healthz").get_json()
    assert first["last_refused_reload_at"] is None and len(first["content"]) == 12 and first["loaded_at"]

    shutil.copy(DATA / "transfers" / "helplines.yaml", config / "helplines.yaml")  # a SIP target: credentials not set
    assert reload_app(app) is False
    health = app.test_client().get("/healthz").get_json()
    assert health["content"] == first["content"] and health["last_refused_reload_at"]
    assert "SIP" not in json.dumps(health) and "TO_NIGHT" not in json.dumps(health)  # when, never why
    assert admin(app, "/admin/status.json", None)[0] == 401
    status, body = admin(app, "/admin/status.json")
    reason = json.loads(body)["last_refused_reload_reason"]
    assert status == 200 and "IVR_SIP_TO_NIGHT_USERNAME" in reason and "restart the service" in reason
    page = admin(app, "/admin")[1]
    assert "last refused reload: " in page and "IVR_SIP_TO_NIGHT_USERNAME" in page and "not served yet" in page

    shutil.copy(DATA / "config" / "helplines.yaml", config / "helplines.yaml")
    (config / "settings.yaml").write_text("languages: [", encoding="utf-8")
    assert reload_app(app) is False
    status, body = admin(app, "/admin/status.json")
    assert "settings.yaml:1:" in json.loads(body)["last_refused_reload_reason"]  # the first error, file:line

    shutil.copy(DATA / "config" / "settings.yaml", config / "settings.yaml")
    assert reload_app(app) is True
    after = app.test_client().get("/healthz").get_json()
    assert after["content"] == first["content"] and after["loaded_at"] > first["loaded_at"]


def test_admin_shows_what_is_live_with_targets_masked(settings: Settings, tmp_path: Path) -> None:
    config = transfers_config(tmp_path)
    credentials = {"TO_NIGHT": ("nacht-user", SECRET)}
    app = create_app(
        replace(settings, config_dir=config, flows_dir=DATA / "flows", admin_password="pw", sip_credentials=credentials)
    )
    status, page = admin(app, "/admin")
    assert "Live now" in page and "Flows and config" in page and "Holidays in the next 30 days" in page
    assert "tele_onthaal: transfers open at all hours" in page and "target 2 (…01)" in page
    for secret in ("+3290000001", "nacht", "pbx.tele-onthaal", SECRET):
        assert secret not in page
    assert admin(app, "/admin", "wrong")[0] == 401


# --- ivr status -------------------------------------------------------------------------------------------------


def test_status_at_a_moment_gives_each_target_its_state_and_next_change_and_the_holidays(tmp_path: Path) -> None:
    config = transfers_config(tmp_path)
    where = ("--config", str(config), "--flows", str(DATA / "flows"), "--url", f"http://127.0.0.1:{free_port()}")
    code, output = ivr("status", *where, "--at", "2026-12-20 17:00")  # a Sunday
    assert code == 0, output
    assert "served: unknown" in output and "not reached" in output and "on disk: " in output
    assert "target 1 (sip:…le): closed now, opens Sun 27 Dec 2026 01:00" in output  # sun 01:00-04:00, after the holiday
    assert "target 2 (…01): closed now, opens Sun 20 Dec 2026 18:00" in output
    assert "target 3 (sip:…le): open at all hours" in output
    assert "Fri 25 Dec 2026: a date in config (tele_onthaal target 1 (sip:…le), tele_onthaal target 2 (…01))" in output
    assert "tele_accueil: no transfer targets" in output
    code, output = ivr("status", *where, "--at", "2026-12-25 19:00")
    assert "target 2 (…01): closed now, opens Sat 26 Dec 2026 18:00" in output  # closed on the holiday
    for secret in ("+3290000001", "nacht", "pbx.tele-onthaal"):
        assert secret not in output
    assert ivr("status", *where, "--at", "2027-03-28 02:30")[0] == 2  # a time the clocks skip


def test_status_shows_the_announcement_and_until_when(tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    where = ("--config", str(DATA / "config"), "--flows", str(DATA / "flows"), "--url", f"http://127.0.0.1:{free_port()}")
    text = "Tele-Onthaal krijgt vanavond veel oproepen."
    code, output = ivr(
        "announce", "set", "--say", "nl", text, "--start", "2026-12-24 18:00", "--end", "2026-12-25 08:00", "--file", str(file)
    )
    assert code == 0, output
    code, output = ivr("status", *where, "--at", "2026-12-24 20:00", IVR_ANNOUNCEMENT_FILE=str(file))
    assert "Announcement\n  on now, until Fri 25 Dec 2026 08:00\n" in output and f"nl: {text}" in output
    code, output = ivr("status", *where, "--at", "2026-12-24 12:00", IVR_ANNOUNCEMENT_FILE=str(file))
    assert "not on yet: from Thu 24 Dec 2026 18:00 until Fri 25 Dec 2026 08:00" in output


# --- ivr announce set in Brussels time ----------------------------------------------------------------------------


def test_announce_for_4h_on_a_paas_prints_a_heroku_line_a_shell_reads_back(tmp_path: Path) -> None:
    text = "Télé-Accueil est très sollicité ce soir : restez en ligne, c'est l'écoute qui compte."
    code, output = ivr("announce", "set", "--say", "fr", text, "--for", "4h")
    assert code == 0, output
    [line] = [line for line in output.splitlines() if line.startswith("heroku config:set ")]
    words = shlex.split(line)
    assert words[:2] == ["heroku", "config:set"] and words[2].startswith("IVR_ANNOUNCEMENT=") and len(words) == 3
    value = json.loads(words[2].removeprefix("IVR_ANNOUNCEMENT="))
    assert value["text"] == {"fr": text}
    from datetime import datetime

    start, end = datetime.fromisoformat(value["start"]), datetime.fromisoformat(value["end"])
    assert (end - start).total_seconds() == 4 * 3600 and abs((datetime.now(start.tzinfo) - start).total_seconds()) < 120
    assert "set IVR_ANNOUNCEMENT to:" in output  # named for the other platforms


def test_announce_local_times_refuse_a_skipped_hour_and_take_the_first_of_a_repeated_one(tmp_path: Path) -> None:
    file = tmp_path / "announcement.json"
    say = ("--say", "nl", "Tele-Onthaal krijgt veel oproepen.", "--file", str(file))
    code, output = ivr("announce", "set", *say, "--start", "2027-03-28 02:30", "--for", "2h")
    assert code == 2 and "does not exist in Brussels" in output and not file.exists()
    code, output = ivr("announce", "set", *say, "--start", "2026-10-25 02:30", "--end", "2026-10-25 06:00")
    assert code == 0 and "happens twice" in output and "taking the first" in output
    written = json.loads(file.read_text(encoding="utf-8"))
    assert written["start"] == "2026-10-25T02:30:00+02:00" and written["end"] == "2026-10-25T06:00:00+01:00"
    code, output = ivr("announce", "set", *say, "--start", "2026-12-24 18:00", "--for", "4 hours")
    assert code == 2 and "not a duration" in output
    assert ivr("announce", "set", *say, "--start", "2026-12-24 18:00")[0] == 2  # neither --end nor --for


# --- the Procfile's process: start-up, reload with the outcome ---------------------------------------------------

TOKEN = "operating-token"


@pytest.mark.serving
def test_start_up_without_sip_credentials_ends_in_one_clear_line(tmp_path: Path) -> None:
    env = procfile_env(
        free_port(), TWILIO_AUTH_TOKEN=TOKEN, IVR_CONFIG=str(transfers_config(tmp_path)), IVR_FLOWS=str(DATA / "flows")
    )
    done = subprocess.run(["bash", "-c", procfile_command("web")], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Error: SIP transfer targets name credentials that are not in the environment" in done.stderr
    assert "IVR_SIP_TO_NIGHT_USERNAME" in done.stderr and "Traceback" not in done.stderr, done.stderr


def master_of(port: int) -> int:
    bound = f"127.0.0.1:{port}".encode()
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and b"gunicorn" in (entry / "cmdline").read_bytes()
                and bound in (entry / "cmdline").read_bytes()
            ):
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if b"gunicorn" not in Path(f"/proc/{parent}/cmdline").read_bytes():
                    return int(entry.name)
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError("no gunicorn master")


def healthz(base: str) -> dict[str, object]:
    with urllib.request.urlopen(base + "/healthz", timeout=5) as answer:
        found: dict[str, object] = json.loads(answer.read())
    return found


@pytest.mark.serving
def test_reload_checks_the_service_environment_waits_for_the_outcome_and_status_says_why(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(DATA / "config", config)
    port = free_port()
    env = procfile_env(
        port, TWILIO_AUTH_TOKEN=TOKEN, IVR_ADMIN_PASSWORD="pw", IVR_CONFIG=str(config), IVR_FLOWS=str(DATA / "flows")
    )
    output = tmp_path / "output.log"
    command = [str(Path(sys.executable).parent / "ivr")]
    with procfile_web(env, output) as base:
        master = master_of(port)
        served = healthz(base)
        shutil.copy(DATA / "transfers" / "helplines.yaml", config / "helplines.yaml")  # a SIP target, no credentials
        shell = {k: v for k, v in env.items() if k != "IVR_ADMIN_PASSWORD"} | CREDENTIALS  # this shell has them, not the service
        refused = subprocess.run([*command, "reload", str(master)], env=shell, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "IVR_SIP_TO_NIGHT_USERNAME" in refused.stderr and "in the service's environment" in refused.stderr
        assert "restart the service" in refused.stderr and "nothing was sent" in refused.stderr
        assert healthz(base) == served  # nothing sent

        os.kill(master, signal.SIGHUP)  # as `systemctl reload` would, unchecked
        deadline = time.monotonic() + 30
        while healthz(base)["last_refused_reload_at"] is None:
            assert time.monotonic() < deadline, "the refusal never showed on /healthz"
            time.sleep(0.2)
        status = subprocess.run([*command, "status", "--url", base], env=env, capture_output=True, text=True, timeout=60)
        assert status.returncode == 0, status.stderr
        assert f"served: {served['content']}" in status.stdout and "not served yet" in status.stdout
        assert "last refused reload: " in status.stdout and "IVR_SIP_TO_NIGHT_USERNAME" in status.stdout

        shutil.copy(DATA / "config" / "helplines.yaml", config / "helplines.yaml")
        settings = (config / "settings.yaml").read_text(encoding="utf-8")
        (config / "settings.yaml").write_text(settings + "\n# changed\n", encoding="utf-8")
        taken = subprocess.run([*command, "reload", str(master)], env=env, capture_output=True, text=True, timeout=60)
        assert taken.returncode == 0, taken.stdout + taken.stderr
        now = healthz(base)
        assert now["content"] != served["content"] and f"reloaded: serving {now['content']} since" in taken.stdout
        status = subprocess.run([*command, "status", "--url", base], env=env, capture_output=True, text=True, timeout=60)
        assert f"on disk: {now['content']}, the same" in status.stdout
    printed = output.read_text(encoding="utf-8")
    assert "reload refused: SIP transfer targets name credentials" in printed and "IVR_SIP_TO_NIGHT_USERNAME" in printed
    assert SECRET not in printed
