import json
import os

import pytest

from advisor import __version__
from advisor.cli import main
from tests import synth


@pytest.fixture()
def tree(tmp_path):
    synth.write_run(str(tmp_path / "healthy"), synth.healthy_step_decay(0, 1500))
    synth.write_run(str(tmp_path / "overfit"), synth.overfitting(0))
    synth.write_run(str(tmp_path / "diverged"), synth.nan_after(900, 0, n=1500, growing_grads=True))
    return tmp_path


def test_analyze_text(tree, capsys):
    code = main(["analyze", str(tree)])
    out = capsys.readouterr().out
    assert code == 1  # a critical finding, default --fail-on critical
    assert "healthy" in out and "overfit" in out and "diverged" in out
    assert "exploding-gradients" in out and "clip_grad_norm" in out
    assert "no findings" in out  # the healthy run


def test_analyze_json_schema(tree, capsys):
    code = main(["analyze", str(tree), "--format", "json", "--fail-on", "never"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["schema"] == 1 and data["advisor_version"] == __version__
    runs = {r["run"]: r for r in data["runs"]}
    assert set(runs) == {"healthy", "overfit", "diverged"}
    assert runs["healthy"]["findings"] == [] and runs["healthy"]["signals"]["train_loss"] == "train/loss"
    f = runs["overfit"]["findings"][0]
    assert f["condition"] == "overfitting" and f["priority"] == 1 and 0 <= f["confidence"] <= 1
    assert f["remedies"][0]["action"] == "early_stop" and f["remedies"][0]["kind"] == "auto"
    assert f["evidence"]["step_range"][0] == f["remedies"][0]["params"]["step"]
    assert runs["overfit"]["steps"] == [0, 2999]
    assert data["sweep"] == {"findings": []}


@pytest.mark.parametrize("fail_on, code", [("critical", 0), ("warning", 1), ("info", 1), ("never", 0)])
def test_fail_on(tree, fail_on, code, capsys):
    # the overfitting run's worst finding is a warning
    assert main(["analyze", str(tree / "overfit"), "--fail-on", fail_on, "--format", "json"]) == code


def test_select_and_ignore(tree, capsys):
    main(["analyze", str(tree), "--format", "json", "--select", "overfitting"])
    data = json.loads(capsys.readouterr().out)
    conds = {f["condition"] for r in data["runs"] for f in r["findings"]}
    assert conds == {"overfitting"}
    main(["analyze", str(tree), "--format", "json", "--ignore", "overfitting,non-finite,exploding-gradients"])
    data = json.loads(capsys.readouterr().out)
    assert not {"overfitting", "non-finite"} & {f["condition"] for r in data["runs"] for f in r["findings"]}


def test_output_file_written_atomically(tree, tmp_path, capsys):
    out = tmp_path / "report.json"
    out.write_text("previous content")
    main(["analyze", str(tree), "--format", "json", "--output", str(out)])
    assert json.loads(out.read_text())["schema"] == 1
    assert capsys.readouterr().out == ""
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".advisor-")]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["analyze", "/nonexistent/path"], "no such file"),
        (["analyze"], "arguments are required"),
        (["analyze", "{empty}"], "no event files"),
        (["analyze", "{tree}", "--select", "nope"], "unknown condition id"),
        (["analyze", "{tree}", "--config", "/nonexistent.toml"], "cannot read config"),
        (["analyze", "{tree}", "--format", "pdf"], "invalid choice"),
        (["explain", "nope"], "unknown condition id"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_one_line_exit_2(tree, tmp_path, capsys, argv, needle):
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    argv = [a.format(tree=tree, empty=empty) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err


def test_only_garbage_files_exit_2(tmp_path, capsys):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "events.out.tfevents.1.host").write_bytes(b"this is not an event file at all" * 10)
    (d / "events.out.tfevents.2.host").write_bytes(b"")
    assert main(["analyze", str(d)]) == 2
    err = capsys.readouterr().err
    assert "no readable event data" in err and "Traceback" not in err


def test_damaged_file_beside_good_runs_is_reported_and_rest_analysed(tree, capsys):
    bad = tree / "broken"
    bad.mkdir()
    (bad / "events.out.tfevents.1.host").write_bytes(os.urandom(300))
    good = next((tree / "healthy").glob("events.out.tfevents.*"))
    trunc = tree / "truncated"
    trunc.mkdir()
    (trunc / good.name).write_bytes(good.read_bytes()[:-7])
    code = main(["analyze", str(tree), "--format", "json", "--fail-on", "never"])
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    runs = {r["run"]: r for r in data["runs"]}
    assert code == 0 and len(runs) == 5
    assert any("not a TFRecord" in p for p in runs["broken"]["problems"])
    assert any("truncated" in p for p in runs["truncated"]["problems"])
    assert runs["truncated"]["signals"]["train_loss"] == "train/loss"
    assert "broken" in captured.err


def test_user_mapping_unknown_tag_is_usage_error(tree, tmp_path, capsys):
    cfg = tmp_path / "advisor.toml"
    cfg.write_text('[signals]\ntrain_loss = "does/not/exist"\n')
    assert main(["analyze", str(tree), "--config", str(cfg)]) == 2
    assert "matches no tag" in capsys.readouterr().err


def test_rules_and_explain(capsys):
    assert main(["rules"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") > 21 and "overfitting" in out and "validation-overuse" in out
    assert main(["rules", "--format", "json"]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert len(rules) == 21 and all(r["params"] is not None for r in rules)
    assert main(["explain", "overfitting"]) == 0
    out = capsys.readouterr().out
    assert "patience = 3" in out and "early_stop" in out


def test_multiple_paths_prefix_run_names(tree, capsys):
    main(["analyze", str(tree / "healthy"), str(tree / "overfit"), "--format", "json", "--fail-on", "never"])
    names = [r["run"] for r in json.loads(capsys.readouterr().out)["runs"]]
    assert names == [os.path.normpath(str(tree / "healthy")), os.path.normpath(str(tree / "overfit"))]


def test_parallel_and_serial_agree(tmp_path, capsys):
    for i in range(10):
        synth.write_run(str(tmp_path / f"r{i}"), synth.overfitting(i, 600) if i % 2 else synth.healthy_step_decay(i, 600))
    main(["analyze", str(tmp_path), "--format", "json", "--workers", "1", "--fail-on", "never"])
    a = json.loads(capsys.readouterr().out)
    main(["analyze", str(tmp_path), "--format", "json", "--workers", "2", "--fail-on", "never"])
    b = json.loads(capsys.readouterr().out)
    assert a == b and len(a["runs"]) == 10


def test_sweep_validation_overuse(tmp_path, capsys):
    for i in range(10):
        synth.write_run(str(tmp_path / "sweep" / f"lr_{i}"), synth.healthy_step_decay(i, 300), hparams={"lr": 0.01 * (i + 1), "batch_size": 64})
    main(["analyze", str(tmp_path), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    sweep = data["sweep"]["findings"]
    assert len(sweep) == 1 and sweep[0]["condition"] == "validation-overuse"
    assert sweep[0]["evidence"]["comparison"]["hparam"] == "lr" and len(sweep[0]["evidence"]["comparison"]["rows"]) == 10


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


def test_internal_error_one_line(monkeypatch, tree, capsys):
    import advisor.analyze

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(advisor.analyze, "analyze", boom)
    assert main(["analyze", str(tree)]) == 3
    err = capsys.readouterr().err
    assert "kaboom" in err and "Traceback" not in err


def test_unrelated_experiments_are_not_a_sweep(tmp_path, capsys):
    for i in range(10):
        hp = {f"knob{k}": (i * 7 + k) % 5 for k in range(9)}  # nine knobs all over the place
        synth.write_run(str(tmp_path / "zoo" / f"exp{i}"), synth.healthy_step_decay(i, 300), hparams=hp)
    main(["analyze", str(tmp_path), "--format", "json"])
    assert json.loads(capsys.readouterr().out)["sweep"]["findings"] == []
