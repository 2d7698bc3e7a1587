"""The TensorBoard plugin: an Advisor tab beside the curves, and the SPEC §4 report as JSON.

Routes (under ``/data/plugin/advisor``):

- ``/index.js``, ``/style.css``: the tab (an ES module TensorBoard loads in its plugin iframe).
- ``/runs``: the triage list (runs by severity, then name; each with its top finding).
- ``/run?run=NAME``: one run with every finding, its evidence, onset range and remedies.
- ``/chart?run=NAME&index=K``: the run's K-th chart as SVG (onset ranges shaded).
- ``/report`` (``?run=NAME`` for one run): the SPEC §4 JSON report.

Routes take run names, never paths: a name is only ever looked up among the runs the data
provider lists; an unknown one is a 404 with a JSON error. Data comes only through TensorBoard's
data provider (so the Rust data server and ``--load_fast=false`` both work), plus the run's
``config.json`` when the logdir is a local directory (see :mod:`advisor.tb_plugin.source`).
"""

from __future__ import annotations

import importlib.resources
import json
import logging
from typing import Any, Callable

from tensorboard import context as tb_context
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from advisor import config
from advisor.config import AnalyzeConfig
from advisor.engine import Engine
from advisor.errors import AdvisorError
from advisor.render import html as html_render
from advisor.tb_plugin import views
from advisor.tb_plugin.service import Diagnoser, Snapshot

log = logging.getLogger(__name__)
PLUGIN_NAME = "advisor"
STATIC = {"/index.js": ("index.js", "text/javascript"), "/style.css": ("style.css", "text/css")}
MAX_NAME = 4096  # a run name longer than any path TensorBoard could list is refused unread


class AdvisorPlugin(base_plugin.TBPlugin):
    """The Advisor tab: findings of every run, diagnosed as ``advisor analyze`` does."""

    plugin_name = PLUGIN_NAME

    def __init__(self, context: base_plugin.TBContext) -> None:
        self._provider = context.data_provider
        self._diagnoser = Diagnoser(context.data_provider, getattr(context, "logdir", None), _config())

    @property
    def diagnoser(self) -> Diagnoser:
        return self._diagnoser

    def get_plugin_apps(self) -> dict[str, Callable]:
        return {
            **{route: self._serve_static for route in STATIC},
            "/runs": self._serve_runs,
            "/run": self._serve_run,
            "/chart": self._serve_chart,
            "/report": self._serve_report,
        }

    def is_active(self) -> bool:
        if self._provider is None:
            return False
        try:
            return bool(self._diagnoser.runs(tb_context.RequestContext(), ""))
        except Exception:  # listing is best effort: an unreachable provider means no tab, not a crash
            log.exception("advisor: listing runs failed")
            return False

    def data_plugin_names(self) -> tuple[str, ...]:
        return ("scalars",)  # active whenever a run has scalars: those are what it diagnoses

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name="Advisor", disable_reload=False)

    # -- routes ---------------------------------------------------------------------------------

    @wrappers.Request.application
    def _serve_static(self, request: wrappers.Request) -> wrappers.Response:
        name, mime = STATIC[request.path[request.path.rindex("/") :]]
        body = importlib.resources.files("advisor.tb_plugin").joinpath("static", name).read_bytes()
        return http_util.Respond(request, body, mime)

    def _snapshot(self, request: wrappers.Request) -> Snapshot:
        ctx = tb_context.from_environ(request.environ)
        return self._diagnoser.snapshot(ctx, plugin_util.experiment_id(request.environ))

    @wrappers.Request.application
    def _serve_runs(self, request: wrappers.Request) -> wrappers.Response:
        snap = self._snapshot(request)
        rows = [snap.analyses[n].report for n in snap.order]
        return _json(request, views.runs_payload(rows, snap.sweep, snap.report()))

    @wrappers.Request.application
    def _serve_run(self, request: wrappers.Request) -> wrappers.Response:
        snap = self._snapshot(request)
        name, err = _run_arg(request, snap)
        if err is not None:
            return err
        a = snap.analyses[name]
        titles = [t for t, _ in html_render.chart_svgs(a.report, a.curves)]
        return _json(request, views.run_payload(a, titles))

    @wrappers.Request.application
    def _serve_chart(self, request: wrappers.Request) -> wrappers.Response:
        snap = self._snapshot(request)
        name, err = _run_arg(request, snap)
        if err is not None:
            return err
        a = snap.analyses[name]
        charts = html_render.chart_svgs(a.report, a.curves)
        try:
            index = int(request.args.get("index", "0"))
        except ValueError:
            return _error(request, "index must be an integer", 400)
        if not 0 <= index < len(charts):
            return _error(request, f"run has {len(charts)} chart(s)", 404)
        return http_util.Respond(request, html_render.standalone_svg(charts[index][1]), "image/svg+xml")

    @wrappers.Request.application
    def _serve_report(self, request: wrappers.Request) -> wrappers.Response:
        snap = self._snapshot(request)
        if "run" not in request.args:
            return _json(request, snap.report().to_dict())
        name, err = _run_arg(request, snap)
        if err is not None:
            return err
        return _json(request, snap.report(name).to_dict())


def _config() -> AnalyzeConfig:
    """advisor.toml (or pyproject.toml's [tool.advisor]) in the working directory, as ``advisor
    analyze`` finds it; the defaults when there is none or it cannot be used."""
    try:
        cfg = config.load(None)
        Engine.from_config(cfg)  # unknown condition ids and the like show here, not at the first request
        return cfg
    except AdvisorError as e:
        log.warning("advisor: %s; the Advisor tab uses the default rules", e)
        return AnalyzeConfig()


def _run_arg(request: wrappers.Request, snap: Snapshot) -> tuple[str, Any]:
    """The ``run`` argument, when it names a listed run; else (``""``, an error response)."""
    name = request.args.get("run")
    if name is None:
        return "", _error(request, "missing ?run=NAME", 400)
    if len(name) > MAX_NAME or name not in snap.analyses:
        return "", _error(request, "unknown run", 404)
    return name, None


def _json(request: wrappers.Request, payload: Any) -> wrappers.Response:
    return http_util.Respond(request, json.dumps(payload, allow_nan=False), "application/json")


def _error(request: wrappers.Request, message: str, code: int) -> wrappers.Response:
    return http_util.Respond(request, json.dumps({"error": message}), "application/json", code=code)
