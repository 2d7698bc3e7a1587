"""The Advisor TensorBoard plugin as a WSGI app over a temporary logdir (TensorBoard's own test style):
the multiplexer-backed data provider (what ``--load_fast=false`` serves), the plugin's routes,
its cache, and hostile run names and requests."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import tomllib
import urllib.parse

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend import application  # noqa: E402
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer  # noqa: E402
from tensorboard.plugins import base_plugin  # noqa: E402
from werkzeug import test as wtest  # noqa: E402
from werkzeug import wrappers  # noqa: E402

from advisor.analyze import analyze  # noqa: E402
from advisor.io.writer import EventWriter  # noqa: E402
from advisor.tb_plugin.plugin import AdvisorPlugin  # noqa: E402
from tests import synth  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
EVIL = "<script>alert(1)</script>"
PREFIX = "/data/plugin/advisor"


def _write_logdir(logdir: pathlib.Path) -> None:
    synth.write_run(str(logdir / "healthy"), synth.healthy_step_decay(n=600))
    synth.write_run(str(logdir / "overfit"), synth.overfitting(n=800))
    synth.write_run(str(logdir / "nan"), synth.nan_after(300, n=600))
    synth.write_run(str(logdir / "keras"), synth.healthy_keras_epochs(epochs=20))
    evil = synth.overfitting(n=600)
    evil[f"val/loss{EVIL}"] = evil.pop("val/loss")
    synth.write_run(str(logdir / EVIL), evil)


class Harness:
    def __init__(self, logdir: pathlib.Path) -> None:
        self.logdir = logdir
        self.mx = plugin_event_multiplexer.EventMultiplexer(tensor_size_guidance={"scalars": 0})
        self.mx.AddRunsFromDirectory(str(logdir))
        self.mx.Reload()
        provider = data_provider.MultiplexerDataProvider(self.mx, str(logdir))
        self.plugin = AdvisorPlugin(base_plugin.TBContext(logdir=str(logdir), data_provider=provider, multiplexer=self.mx))
        self.client = wtest.Client(application.TensorBoardWSGI([self.plugin]), wrappers.Response)

    def get(self, route: str, **params: str):
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        return self.client.get(PREFIX + route + q)

    def json(self, route: str, **params: str):
        r = self.get(route, **params)
        assert r.status_code == 200, r.data
        return json.loads(r.data)


@pytest.fixture(scope="module")
def logdir(tmp_path_factory) -> pathlib.Path:
    d = tmp_path_factory.mktemp("tb") / "logs"
    _write_logdir(d)
    return d


@pytest.fixture(scope="module")
def h(logdir) -> Harness:
    return Harness(logdir)


def _conditions(report: dict) -> dict[str, list[str]]:
    return {r["run"]: sorted(f["condition"] for f in r["findings"]) for r in report["runs"]}


def test_report_route_matches_advisor_analyze(h, logdir):
    via_plugin = h.json("/report")
    offline = analyze([str(logdir)]).report.to_dict()
    assert via_plugin["schema"] == 1 and set(via_plugin) >= {"advisor_version", "runs", "sweep"}
    assert _conditions(via_plugin) == _conditions(offline)
    assert _conditions(via_plugin)["nan"] and "overfitting" in _conditions(via_plugin)["overfit"]
    # Keras train/ + validation/ is one run, as advisor analyze has it, not two TensorBoard runs.
    assert "keras" in _conditions(via_plugin) and not any(n.startswith("keras/") for n in _conditions(via_plugin))
    one = h.json("/report", run="overfit")
    assert [r["run"] for r in one["runs"]] == ["overfit"]


def test_runs_are_a_triage_list(h):
    rows = h.json("/runs")["runs"]
    rank = {"critical": 3, "warning": 2, "info": 1, None: 0}
    keys = [(-rank[r["severity"]], r["run"]) for r in rows]
    assert keys == sorted(keys)
    assert rows[0]["run"] == "nan" and rows[0]["top"]["condition"]
    assert len(rows) == 5


def test_run_route_has_findings_evidence_onset_remedies_and_charts(h):
    run = h.json("/run", run="overfit")
    f = next(f for f in run["detail"] if f["condition"] == "overfitting")
    assert f["summary"] and f["onset"] and f["remedies"] and f["evidence"]
    assert run["charts"] and run["charts"][0]["title"] == "loss"
    svg = h.get("/chart", run="overfit", index="0")
    assert svg.status_code == 200 and svg.headers["Content-Type"].startswith("image/svg+xml")
    assert b'class="onset' in svg.data and b"<style>" in svg.data


def test_hostile_run_name_and_tag_are_escaped(h):
    rows = h.json("/runs")["runs"]
    assert EVIL in [r["run"] for r in rows]  # JSON carries the name as data...
    svg = h.get("/chart", run=EVIL, index="0")
    assert svg.status_code == 200
    assert b"<script" not in svg.data and b"&lt;script&gt;" in svg.data  # ...and markup never
    js = (ROOT / "advisor/tb_plugin/static/index.js").read_text()
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "document.write" not in js


@pytest.mark.parametrize(
    "name",
    ["../healthy", "/etc/passwd", "..%2f..%2fetc%2fpasswd", "%2e%2e/%2e%2e", "healthy/../nan", "./healthy", "", "\x00", "a" * 5000],
)
def test_traversal_and_unknown_runs_are_404_json(h, name):
    for route in ("/run", "/chart", "/report"):
        r = h.get(route, run=name)
        assert r.status_code == 404, (route, name)
        assert json.loads(r.data) == {"error": "unknown run"}


def test_routes_refuse_paths_and_bad_arguments(h):
    assert h.client.get(PREFIX + "/../../../pyproject.toml").status_code == 404
    assert h.client.get(PREFIX + "/static/../plugin.py").status_code == 404
    assert h.client.get(PREFIX + "/index.js/../plugin.py").status_code == 404
    assert h.get("/run").status_code == 400
    assert h.get("/chart", run="overfit", index="x").status_code == 400
    assert h.get("/chart", run="overfit", index="99").status_code == 404
    js = h.get("/index.js")
    assert js.status_code == 200 and b"export async function render" in js.data


def test_only_changed_runs_are_diagnosed_again(tmp_path):
    logdir = tmp_path / "logs"
    synth.write_run(str(logdir / "a"), synth.healthy_step_decay(n=300))
    synth.write_run(str(logdir / "b"), synth.overfitting(n=400))
    h = Harness(logdir)
    h.json("/runs")
    assert h.plugin.diagnoser.diagnoses == 2
    h.json("/runs"), h.json("/report"), h.json("/run", run="a")
    assert h.plugin.diagnoser.diagnoses == 2  # cached: nothing changed
    # Appended to the run's own file: TensorBoard's loader reads a run's files in name order and
    # never goes back to a name that sorts before the one it reads (a new file may sort first).
    (existing,) = os.listdir(logdir / "a")
    with EventWriter(str(logdir / "a"), filename=existing) as w:
        w.add_scalar("train/loss", 0.5, 5000, wall_time=1_800_000_000.0)
    h.mx.Reload()
    assert "a" in [r["run"] for r in h.json("/runs")["runs"]]
    assert h.plugin.diagnoser.diagnoses == 3  # a alone
    shutil.rmtree(logdir / "b")
    h.mx = None  # the multiplexer keeps a deleted run; a fresh harness sees it gone
    h2 = Harness(logdir)
    assert [r["run"] for r in h2.json("/runs")["runs"]] == ["a"]


def test_logdir_that_is_a_run_is_named_by_its_directory(tmp_path):
    logdir = tmp_path / "myrun"
    synth.write_run(str(logdir), synth.overfitting(n=600))
    h = Harness(logdir)
    assert [r["run"] for r in h.json("/report")["runs"]] == ["myrun"]
    assert [r["run"] for r in analyze([str(logdir)]).report.to_dict()["runs"]] == ["myrun"]
    assert h.json("/report", run="myrun")["runs"][0]["findings"]


def test_hparams_come_through_the_hparams_plugin(tmp_path):
    logdir = tmp_path / "logs"
    synth.write_run(str(logdir / "a"), synth.healthy_step_decay(n=300), hparams={"lr": 0.1, "optimizer": "sgd"})
    h = Harness(logdir)
    h.json("/runs")
    from tensorboard import context

    snap = h.plugin.diagnoser.snapshot(context.RequestContext(), "")
    assert snap.analyses["a"].sweep.hparams.get("lr") == pytest.approx(0.1)


def test_is_active_and_frontend_metadata(h, tmp_path):
    assert h.plugin.is_active()
    meta = h.plugin.frontend_metadata()
    assert meta.es_module_path == "/index.js" and meta.tab_name == "Advisor"
    (tmp_path / "empty").mkdir()
    assert not Harness(tmp_path / "empty").plugin.is_active()


def test_entry_point_is_declared():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert meta["project"]["entry-points"]["tensorboard_plugins"]["advisor"] == "advisor.tb_plugin:AdvisorPlugin"
    data = meta["tool"]["setuptools"]["package-data"]["advisor.tb_plugin"]
    assert any(p.endswith(".js") for p in data)
    import advisor.tb_plugin as pkg

    assert pkg.AdvisorPlugin is AdvisorPlugin
    assert os.path.isfile(ROOT / "advisor/tb_plugin/static/index.js")


def test_config_in_the_working_directory_applies_and_a_bad_one_falls_back(tmp_path, logdir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "advisor.toml").write_text('ignore = ["overfitting"]\n')
    conds = _conditions(Harness(logdir).json("/report"))
    assert "overfitting" not in conds["overfit"]  # as `advisor analyze` run here would
    (tmp_path / "advisor.toml").write_text('select = ["no-such-condition"]\n')
    assert "overfitting" in _conditions(Harness(logdir).json("/report"))["overfit"]


def test_add_hparams_subdirectory_is_its_runs_hparams_in_the_plugin_too(tmp_path):
    # SummaryWriter.add_hparams puts the hparams in a time-named subdirectory, which TensorBoard
    # lists as a run of its own: the plugin, like advisor analyze, reads it as the run's hparams
    # (here a declared Adam rate of 3 behind a loss that sat at its start) and lists one run.
    import numpy as np

    logdir = tmp_path / "logs"
    rng = np.random.default_rng(0)
    steps = np.arange(300)
    synth.write_run(str(logdir / "stamped"), {"Loss/train": (steps, 2.3 * rng.lognormal(0, 0.02, 300)),
                                              "Loss/val": (np.arange(29, 300, 30), 2.3 * rng.lognormal(0, 0.01, 10))})
    with EventWriter(str(logdir / "stamped" / "1796067927.2886472")) as w:
        w.add_hparams({"lr": 3.0, "optimizer": "adam", "num_classes": 10})
        w.add_scalar("hparam/best_val_loss", 2.3, 0)
    h = Harness(logdir)
    assert [r["run"] for r in h.json("/runs")["runs"]] == ["stamped"]
    via_plugin = h.json("/report")
    # (the loss that sat at its start is the no-learning the rate explains, ranked after it)
    assert _conditions(via_plugin) == _conditions(analyze([str(logdir)]).report.to_dict()) == {"stamped": ["lr-too-high", "no-learning"]}
    assert via_plugin["runs"][0]["findings"][0]["evidence"]["form"] == "declared"
