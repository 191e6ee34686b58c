"""deploy/prometheus-alerts.yml and deploy/grafana-dashboard.json use only
metrics the module exports: promtool checks and unit-tests the rules, and
every metric named in a rule or a panel is one ngx_http_prep_status.c
writes (or Prometheus' own `up`)."""

import json
import re
import shutil
import subprocess

import pytest

import prep_harness as ph


DEPLOY = ph.REPO / "deploy"
MODULE = ph.REPO / "ngx_prep_module"

# PromQL words that look like metric names but are not
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "topk", "ignoring", "on", "unless",
    "or", "and", "without", "group_left", "group_right", "avg", "max",
    "min", "count", "bool", "offset",
}


def exported_metrics():
    """Names the module writes in its Prometheus output."""
    names = set()
    for src in MODULE.glob("*.c"):
        text = src.read_text()
        names |= set(re.findall(r'"(prep_[a-z_]+)"', text))
    assert "prep_corte_age_seconds" in names, names
    hist = {n + s for n in names for s in ("_bucket", "_sum", "_count")
            if n.endswith("_seconds")}
    return names | hist | {"up"}


def metrics_in(expr):
    expr = re.sub(r'\{[^}]*\}', "", expr)        # label matchers
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r'\[[^\]]*\]', "", expr)       # ranges
    expr = re.sub(r'\([^()]*\)\s*(?=\()', "", expr)
    words = set(re.findall(r'[a-zA-Z_][a-zA-Z0-9_]*', expr))
    return {w for w in words if w not in PROMQL_WORDS
            and not re.fullmatch(r'by|instance|class|kind|path|job|[a-z]',
                                 w)}


def rule_exprs():
    """The expr: values of the rules file (a small YAML subset: scalar or
    folded block)."""
    lines = (DEPLOY / "prometheus-alerts.yml").read_text().splitlines()
    out = []
    i = 0
    while i < len(lines):
        m = re.match(r'^(\s*)expr:\s*(.*)$', lines[i])
        i += 1
        if not m:
            continue
        if m.group(2) not in (">-", ">", "|"):
            out.append(m.group(2))
            continue
        block = []
        while i < len(lines) and (lines[i].startswith(m.group(1) + "  ")
                                  or not lines[i].strip()):
            block.append(lines[i].strip())
            i += 1
        out.append(" ".join(block))
    return out


def by_clauses_removed(expr):
    return re.sub(r'\b(by|on|ignoring|without)\s*\([^)]*\)', "", expr)


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool not installed (Debian: prometheus)")
def test_promtool_checks_and_unit_tests_the_rules():
    subprocess.run(["promtool", "check", "rules",
                    str(DEPLOY / "prometheus-alerts.yml")], check=True)
    subprocess.run(["promtool", "test", "rules",
                    str(DEPLOY / "prometheus" / "alerts-test.yml")],
                   check=True)


def test_rules_use_the_module_metrics():
    known = exported_metrics()
    exprs = rule_exprs()
    assert len(exprs) >= 6
    used = set()
    for e in exprs:
        used |= metrics_in(by_clauses_removed(e))
    assert used, exprs
    assert used <= known, sorted(used - known)
    for needed in ("prep_corte_age_seconds", "prep_suspended",
                   "prep_responses_total", "prep_sessions_live"):
        assert needed in used


def test_dashboard_is_valid_and_uses_the_module_metrics():
    dash = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    known = exported_metrics()
    titles = [p["title"] for p in dash["panels"]]
    used = set()
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            used |= metrics_in(by_clauses_removed(t["expr"]))
    assert used <= known, sorted(used - known)
    for needed in ("prep_corte_age_seconds", "prep_responses_total",
                   "prep_visitors", "prep_pages_total",
                   "prep_sent_bytes_total", "prep_path_hits_total"):
        assert needed in used, needed
    assert any("Top paths" in t for t in titles)
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
