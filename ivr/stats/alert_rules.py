"""The alert rules, defined once.

``docs/alerts.yml`` (Prometheus alerting rules) is generated from :data:`RULES` by
``python -m ivr.stats.alert_rules > docs/alerts.yml`` (a test checks that the file is what this
table makes), and :class:`ivr.stats.metrics.Alerts` checks the same thresholds in each process
and writes them as log lines, for operators without Prometheus.
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE, WARNING = "page", "warning"

# The thresholds and windows both use.
FALLBACK_WINDOW = 600
TRANSFER_WINDOW = 900
TRANSFER_FAILURES = 2  # transfers are failing: at least this many attempts did not connect ...
TRANSFER_FAILED_SHARE = 0.5  # ... and at least this share of the attempts that ended
REFUSED_WINDOW = 300
REFUSED_BURST = 20
DROPPED_WINDOW = 900
RESCUE_WINDOW = 600


def transfers_failing(failures: int, attempts: int) -> bool:
    """Whether ``failures`` out of ``attempts`` (ended in TRANSFER_WINDOW) is an alert."""
    return failures >= TRANSFER_FAILURES and failures >= TRANSFER_FAILED_SHARE * attempts


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    severity: str
    expr: str  # PromQL
    summary: str
    why: str = ""  # a comment above the rule


def _w(seconds: int) -> str:
    return f"{seconds // 60}m"


def _sum(selector: str, seconds: int) -> str:
    return f"sum(increase({selector}[{_w(seconds)}]))"


CALL_ROUTES = ("start", "step", "dial")  # the webhooks of a call (ivr.web's route names): /voice, its steps and dials
SIGNED = 'ivr_fallback_hits_total{signed="true"}'
UNSIGNED = 'ivr_fallback_hits_total{signed="false"}'
REFUSED_CALLS = 'ivr_refused_signatures_total{route=~"' + "|".join(CALL_ROUTES) + '"}'
ENDED = 'ivr_transfers_total{result!="started"}'
RULES = (
    Rule(
        "FallbackUrlCalled",
        PAGE,
        f"{_sum(SIGNED, FALLBACK_WINDOW)} > 0",
        "Twilio called the Voice Fallback URL: the webhook failed or could not be reached",
        "Only a hit with Twilio's signature pages alone: the fallback answers anyone (it must), so an\n"
        "unsigned hit may be a stranger's curl. Unsigned hits page only with refused signatures on a\n"
        "call's webhooks in the same window: Twilio signing with a token we no longer hold.",
    ),
    Rule(
        "FallbackUnsignedWhileCallsRefused",
        PAGE,
        f"{_sum(UNSIGNED, FALLBACK_WINDOW)} > 0\nand {_sum(REFUSED_CALLS, FALLBACK_WINDOW)} > 0",
        "Calls are refused for their signature and the fallback URL is called unsigned: a rotated TWILIO_AUTH_TOKEN "
        "or a wrong IVR_PUBLIC_URL; callers hear only the numbers",
    ),
    Rule(
        "FallbackUrlCalledUnsigned",
        WARNING,
        f"{_sum(UNSIGNED, FALLBACK_WINDOW)} > 0",
        "The Voice Fallback URL was called without a valid signature: a probe, or a fallback URL on another host "
        "than IVR_PUBLIC_URL",
    ),
    Rule(
        "RescueAnswered",
        PAGE,
        f"increase(ivr_rescues_total[{_w(RESCUE_WINDOW)}]) > 0",
        "A webhook failed and answered with the rescue (every line's number)",
    ),
    Rule(
        "TransfersFailing",
        PAGE,
        f"{_sum('ivr_transfer_failures_total', TRANSFER_WINDOW)} >= {TRANSFER_FAILURES}\n"
        f"and {_sum('ivr_transfer_failures_total', TRANSFER_WINDOW)} / "
        f"{_sum(ENDED, TRANSFER_WINDOW)} >= {TRANSFER_FAILED_SHARE}",
        f"{TRANSFER_FAILURES} or more transfer attempts in {TRANSFER_WINDOW // 60} minutes did not connect, "
        f"{TRANSFER_FAILED_SHARE:.0%} of them or more",
    ),
    Rule(
        "RefusedSignaturesBurst",
        WARNING,
        f"{_sum('ivr_refused_signatures_total', REFUSED_WINDOW)} >= {REFUSED_BURST}",
        "Many requests refused for their Twilio signature: a wrong IVR_PUBLIC_URL or auth token, or a probe",
    ),
    Rule(
        "StatisticsDropped",
        WARNING,
        f"increase(ivr_statistics_dropped_total[{_w(DROPPED_WINDOW)}]) > 0",
        "Statistics were dropped (the database refused, hung or was never migrated); calls are not affected",
    ),
)

HEADER = """\
# Prometheus alerting rules for helpline-ivr (scrape /metrics with IVR_METRICS_TOKEN as a bearer token).
# The same conditions are written as warning lines in the service's log, for operators without Prometheus:
# see docs/operating.md, "Statistics, metrics and alerts".
# Generated from ivr/stats/alert_rules.py by `python -m ivr.stats.alert_rules > docs/alerts.yml`: edit the table there.
"""


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def alerts_yaml() -> str:
    """docs/alerts.yml, as :data:`RULES` make it."""
    out = [HEADER, "groups:\n", "  - name: helpline-ivr\n", "    rules:\n"]
    for rule in RULES:
        out += [f"      # {line}\n" for line in rule.why.splitlines()]
        out.append(f"      - alert: {rule.name}\n")
        if "\n" in rule.expr:
            out.append("        expr: >\n")
            out += [f"          {line}\n" for line in rule.expr.splitlines()]
        else:
            out.append(f"        expr: {rule.expr}\n")
        out.append(f"        labels: {{severity: {rule.severity}}}\n")
        out.append("        annotations:\n")
        out.append(f"          summary: {_quoted(rule.summary)}\n")
    return "".join(out)


if __name__ == "__main__":
    print(alerts_yaml(), end="")
