"""The alert rules are defined once (ivr/stats/alert_rules.py): docs/alerts.yml is what the table makes, and the
in-process alert (a log line) and the Prometheus rule, evaluated on the service's own /metrics, agree."""

from __future__ import annotations

import ast
import io
import json
import operator
import re
from dataclasses import replace

import pytest
import yaml
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from ivr.app import create_app
from ivr.settings import Settings
from ivr.stats.alert_rules import alerts_yaml
from support import ROOT, TwilioClient

DIAL = "/voice/dial?flow=helpline&lang=nl&node=listening_line"
ALERT = "alert: transfers are failing"


def test_docs_alerts_yml_is_what_the_table_makes() -> None:
    assert (ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8") == alerts_yaml()


Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _series(client: FlaskClient) -> Series:
    body = client.get("/metrics", headers={"Authorization": "Bearer metrics-token"}).get_data(as_text=True)
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


MATCHERS = {"=": operator.eq, "!=": operator.ne, "=~": lambda value, pattern: re.fullmatch(pattern, value) is not None}
COMPARISONS = (ast.Gt, ast.GtE, ast.Lt, ast.LtE)


def _evaluate(expr: str, before: Series, after: Series) -> bool:
    """The rule's condition over the increase between two scrapes of one process: each ``sum(increase(…[w]))`` or
    ``increase(…[w])`` becomes the sum of its series' increase (the scrapes are seconds apart, within any window),
    and what is left (numbers, / and comparisons, ``and``) must be plain arithmetic."""

    def increase(match: re.Match[str]) -> str:
        name, selector = match.group("name"), match.group("selector") or ""
        wanted = [(label, MATCHERS[op], value) for label, op, value in re.findall(r'(\w+)(=~|!=|=)"([^"]*)"', selector)]
        total = 0.0
        for (sample, labels), value in after.items():
            found = dict(labels)
            if sample == name and all(test(found.get(label, ""), value_) for label, test, value_ in wanted):
                total += value - before.get((sample, labels), 0.0)
        return repr(total)

    plain = re.sub(
        r"(?:sum\()?increase\((?P<name>ivr_\w+)(?:\{(?P<selector>[^}]*)\})?\[\d+m\]\)\)?", increase, expr.replace("\n", " ")
    )
    tree = ast.parse(plain, mode="eval")
    allowed = (ast.Expression, ast.BoolOp, ast.And, ast.BinOp, ast.Div, ast.Compare, ast.Constant, *COMPARISONS)
    assert all(isinstance(node, allowed) for node in ast.walk(tree)), plain
    try:
        return bool(eval(compile(tree, "rule", "eval")))  # noqa: S307 - numbers, / and comparisons only (checked above)
    except ZeroDivisionError:  # PromQL: no series to divide by, no alert
        return False


@pytest.mark.parametrize(
    ("results", "fires"),
    [
        (["busy", "no-answer"], True),  # the review's case: 2 failures out of 2 transfers
        (["busy"], False),
        (["completed", "completed", "completed", "busy", "failed"], False),  # 2 of 5
        (["completed", "busy", "no-answer"], True),  # 2 of 3
    ],
)
def test_the_in_process_alert_and_the_prometheus_rule_agree(
    settings: Settings, json_log: io.StringIO, results: list[str], fires: bool
) -> None:
    twilio = TwilioClient(create_app(replace(settings, metrics_token="metrics-token")).test_client())
    before = _series(twilio.client)
    for result in results:
        assert twilio.post(DIAL, {"DialCallStatus": result}).status == 200
    after = _series(twilio.client)
    rules = yaml.safe_load((ROOT / "docs" / "alerts.yml").read_text(encoding="utf-8"))["groups"][0]["rules"]
    [rule] = [r for r in rules if r["alert"] == "TransfersFailing"]
    logged = [json.loads(line)["event"] for line in json_log.getvalue().splitlines()]
    in_process = any(event.startswith(ALERT) for event in logged)
    assert (_evaluate(rule["expr"], before, after), in_process) == (fires, fires)
