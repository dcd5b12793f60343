"""The PromQL builder escapes every user string; Prometheus API errors become one-line messages."""

import pytest

from gitbot.errors import redact_urls
from gitbot.metrics.prometheus import PrometheusOptions, _api_error, _pack
from gitbot.metrics.query import Selector, by, quote, regex_literal


def test_selectors_escape_label_values_and_regex_lists():
    sel = Selector("kube_pod_owner").where("namespace", "in", ["shop", "a.b", "x|y"]).where("pod", "eq", 'we"ird\\')
    assert str(sel) == 'kube_pod_owner{namespace=~"a\\\\.b|shop|x\\\\|y",pod="we\\"ird\\\\"}'
    assert sel.range(600) == str(sel) + "[600s]"


def test_injection_attempts_stay_inside_the_string():
    evil = 'a"} or vector(1) or x{b="'
    text = str(Selector("m").where("namespace", "eq", evil))
    assert text == 'm{namespace="a\\"} or vector(1) or x{b=\\""}'
    assert quote("line\nbreak") == '"line\\nbreak"'
    assert regex_literal("a.b*c(d)[e]{f}^$+?\\") == "a\\.b\\*c\\(d\\)\\[e\\]\\{f\\}\\^\\$\\+\\?\\\\"


@pytest.mark.parametrize("bad", ["bad-name", "1abc", "", "a b"])
def test_label_and_metric_names_are_validated(bad):
    with pytest.raises(ValueError):
        Selector("m").where(bad, "eq", "x")
    with pytest.raises(ValueError):
        Selector(bad)
    with pytest.raises(ValueError):
        by(["ok", bad])


def test_namespaces_are_packed_into_chunks_under_the_budget():
    counts = {"a": 5, "b": 5, "c": 1, "huge": 50, "d": 3}
    assert _pack(counts, 10) == [["a", "b"], ["c", "d"], ["huge"]]  # sorted; a namespace over the budget goes alone
    assert _pack({}, 10) == []
    assert _pack(counts, 1000) == [["a", "b", "c", "d", "huge"]]


def test_api_errors_are_parsed_from_the_client_exception():
    text = "HTTP Status Code 422 (b'{\"status\":\"error\",\"errorType\":\"execution\",\"error\":\"query processing would load too many samples into memory in query execution\"}')"
    assert _api_error(text) == ("422", "query processing would load too many samples into memory in query execution")
    assert _api_error("HTTP Status Code 502 (b'<html>bad gateway</html>')") == ("502", "HTTP Status Code 502 (b'<html>bad gateway</html>')")


def test_credentials_in_urls_and_secrets_are_redacted():
    assert redact_urls("https://user:pw@prom.example.com:9090/prefix") == "https://***@prom.example.com:9090/prefix"
    assert redact_urls("http://127.0.0.1:9090") == "http://127.0.0.1:9090"
    assert redact_urls("fatal: unable to access 'https://x-access-token:ghs_abc@github.com/a/b.git/'") == (
        "fatal: unable to access 'https://***@github.com/a/b.git/'"
    )
    options = PrometheusOptions("http://x", headers={"X-Scope-OrgID": "tenant"}, token="t0k", basic_auth=("u", "pw"))
    assert set(options.secrets()) == {"t0k", "tenant", "pw"}
