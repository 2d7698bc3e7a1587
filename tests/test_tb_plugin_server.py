"""End to end: a real ``tensorboard`` process (default loader: the Rust data server when installed)
serving the Advisor plugin over fixture runs, its routes over HTTP, and the tab rendered by a
real headless Chromium. One server for the module; the browser test skips only without Chromium."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import time
import urllib.parse

import pytest

pytest.importorskip("tensorboard")

from advisor.analyze import analyze  # noqa: E402
from tests import synth  # noqa: E402
from tests.tb_browser import FRAMES_JS, Chromium, TensorBoardServer, chromium_binary  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
# A subset of the committed fixtures: every severity, a Keras split layout, a Lightning version
# directory, and a run with more points per tag than TensorBoard keeps by default.
FIXTURES = {
    "torch/overfitting": "overfitting",
    "torch/exploding-rnn": "exploding-rnn",
    "torch/healthy-cosine": "healthy-cosine",
    "torch/batch-size-1": "batch-size-1",
    "torch/plateau": "plateau",
    "keras/overfitting": "keras-overfitting",
    "lightning/lr-too-high": "lightning-lr-too-high",
}
EVIL = "<img src=x onerror=alert(1)>"
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("tbe2e") / "logs"
    for src, dst in FIXTURES.items():
        shutil.copytree(ROOT / "fixtures" / src, d / dst)
    synth.write_run(str(d / EVIL), synth.nan_after(300, n=600))
    return d


def _report_when_loaded(srv, expected_runs: int, timeout: float = 90.0) -> dict:
    """TensorBoard loads event files in the background: the report once every run is in and two
    polls a second apart agree (a run still loading changes its fingerprint, so its findings)."""
    deadline = time.monotonic() + timeout
    prev = None
    while True:
        code, body = srv.get("/data/plugin/advisor/report")
        report = json.loads(body) if code == 200 else None
        if report is not None and len(report["runs"]) == expected_runs and report == prev:
            return report
        if time.monotonic() > deadline:
            raise AssertionError(f"tensorboard never finished loading: {code} {body[:300]!r}")
        prev = report
        time.sleep(1.0)


@pytest.fixture(scope="module")
def server(logdir):
    # TensorBoard's defaults, as a user starts it (the Rust data server when installed; 1000
    # points kept per tag: findings agree with advisor analyze, numbers on longer tags may differ).
    srv = TensorBoardServer(str(logdir))
    try:
        _report_when_loaded(srv, len(FIXTURES) + 1)
    except BaseException:
        srv.close()
        raise
    yield srv
    srv.close()


def _json(server, path):
    code, body = server.get(path)
    assert code == 200, (path, code, body[:300])
    return json.loads(body)


def _conditions(report: dict) -> dict[str, list[str]]:
    return {r["run"]: sorted(f["condition"] for f in r["findings"]) for r in report["runs"]}


def test_tab_is_listed_and_active(server):
    listing = _json(server, "/data/plugins_listing")
    assert listing["advisor"]["enabled"] is True
    assert listing["advisor"]["tab_name"] == "Advisor"
    assert listing["advisor"]["loading_mechanism"]["module_path"].endswith("/data/plugin/advisor/index.js")


def test_same_findings_as_advisor_analyze(server, logdir):
    via_tb = _conditions(_json(server, "/data/plugin/advisor/report"))
    offline = _conditions(analyze([str(logdir)]).report.to_dict())
    assert via_tb == offline
    assert via_tb["overfitting"][0] == "overfitting" and via_tb[EVIL]


def test_routes_over_http_refuse_traversal(server):
    for name in ("../../etc/passwd", "/etc/passwd", "%2e%2e%2f%2e%2e%2f", EVIL + "/.."):
        code, body = server.get("/data/plugin/advisor/run?" + urllib.parse.urlencode({"run": name}))
        assert code == 404 and json.loads(body) == {"error": "unknown run"}
    code, _ = server.get("/data/plugin/advisor/%2e%2e/%2e%2e/pyproject.toml")
    assert code in (400, 404)
    code, body = server.get("/data/plugin/advisor/run?" + urllib.parse.urlencode({"run": EVIL}))
    assert code == 200 and json.loads(body)["run"] == EVIL


def test_tab_renders_findings_in_chromium(server, tmp_path):
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary (CI installs Debian's chromium; apt-get install chromium)")
    rows = _json(server, "/data/plugin/advisor/runs")["runs"]
    browser = Chromium(binary)
    try:
        browser.navigate(server.url + "#advisor")
        frames = browser.wait_for(FRAMES_JS, timeout=90)
        assert frames, "the Advisor tab never finished rendering"
        text = frames[0]["text"]
        # The triage list: every run with its top finding, in the server's order.
        for row in rows:
            assert row["run"] in text
            if row["top"]:
                assert row["top"]["condition"] in text
        first = rows[0]
        detail = _json(server, "/data/plugin/advisor/run?" + urllib.parse.urlencode({"run": first["run"]}))
        for f in detail["detail"]:
            assert f["summary"] in text
        # The hostile name is shown as text: no element was made from it, no handler ran.
        injected = browser.evaluate(
            "(() => { let n = 0; const v = (r) => { for (const f of r.querySelectorAll('iframe')) { try { const d = f.contentDocument;"
            " n += d.querySelectorAll('img[src=x],img[onerror]').length; v(d); } catch (e) {} } }; v(document); return n; })()"
        )
        assert injected == 0
        # Clicking a row opens that run: its findings replace the first run's.
        clicked = browser.evaluate(
            "(() => { const d = document.querySelector('iframe') && document.querySelector('iframe').contentDocument;"
            " const f = (r) => { for (const fr of r.querySelectorAll('iframe')) { const doc = fr.contentDocument; if (doc && doc.getElementById('run-rows')) return doc; }"
            " for (const e of r.querySelectorAll('*')) if (e.shadowRoot) { const x = f(e.shadowRoot); if (x) return x; } return null; };"
            " const doc = f(document); if (!doc) return false;"
            " const row = [...doc.querySelectorAll('tr.run-row')].find((tr) => tr.querySelector('.run-name').textContent === 'overfitting');"
            " if (!row) return false; row.click(); return true; })()"
        )
        assert clicked
        chosen = _json(server, "/data/plugin/advisor/run?run=overfitting")["detail"][0]["summary"]
        assert browser.wait_for(FRAMES_JS.replace("return done.length ? done : null;", f"return done.some((f) => f.text.includes({json.dumps(chosen)}) && f.text.includes('early_stop'));"), timeout=30)
        shot = tmp_path / "advisor-tab.png"
        browser.screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "advisor-tab.png")
        if os.environ.get("ADVISOR_SCREENSHOT"):  # opt in: refresh the README's picture
            shutil.copy(shot, os.environ["ADVISOR_SCREENSHOT"])
    finally:
        browser.close()
