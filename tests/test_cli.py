import json
import os
import stat

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
    from advisor.rules import RULES

    assert len(rules) == len(RULES) >= 22 and all(r["params"] is not None for r in rules)
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


def test_only_tiny_files_named_like_event_files_exit_2(tmp_path, capsys):
    """Files under one record header (12 bytes) hold nothing: not "a writer still writing", exit 2."""
    d = tmp_path / "tiny"
    d.mkdir()
    (d / "events.out.tfevents.1.host").write_bytes(b"hello\n")
    (d / "events.out.tfevents.2.host").write_bytes(b"\x00" * 11)
    assert main(["analyze", str(d)]) == 2
    err = capsys.readouterr().err
    assert "no readable event data" in err and err.count("\n") == 1


def test_a_file_with_only_its_version_record_is_readable(tmp_path, capsys):
    """A writer that has just started (file_version only) is a run with no data yet, not bad input."""
    from advisor.io.writer import EventWriter

    d = tmp_path / "fresh"
    d.mkdir()
    w = EventWriter(str(d))
    w.close()
    assert main(["analyze", str(d)]) == 0


# -- -o FILE never replaces what is at the path ---------------------------------------------------------


def test_output_through_a_symlink_replaces_its_target_and_keeps_the_link(tree, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    main(["analyze", str(tree), "--format", "json", "-o", str(link)])
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["schema"] == 1


def test_output_into_a_fifo_writes_through(tree, tmp_path):
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, encoding="utf-8").read()))
    reader.start()
    main(["analyze", str(tree), "--format", "json", "-o", str(fifo)])
    reader.join(10)
    assert json.loads(got[0])["schema"] == 1
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_output_to_a_full_device_is_one_line_exit_2_and_keeps_the_node(tree, tmp_path, capsys):
    full = tmp_path / "full"  # our own node for /dev/full's device: a bug must not replace the real one
    try:
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here (needs root)")
    assert main(["analyze", str(tree), "--format", "json", "-o", str(full)]) == 2
    assert stat.S_ISCHR(os.stat(full).st_mode)
    err = capsys.readouterr().err
    assert f"cannot write {full}" in err and err.count("\n") == 1


def test_output_files_get_the_umask_mode_and_keep_an_existing_mode(tree, tmp_path):
    old = os.umask(0o027)
    try:
        new = tmp_path / "new.json"
        main(["analyze", str(tree), "--format", "json", "-o", str(new)])
        assert stat.S_IMODE(os.stat(new).st_mode) == 0o640
        kept = tmp_path / "kept.json"
        kept.write_text("x")
        os.chmod(kept, 0o604)
        main(["analyze", str(tree), "--format", "json", "-o", str(kept)])
        assert stat.S_IMODE(os.stat(kept).st_mode) == 0o604
    finally:
        os.umask(old)


def test_full_stdout_is_exit_2(tree, capsys, monkeypatch):
    import io
    import sys

    class Full(io.StringIO):
        def write(self, s):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["analyze", str(tree), "--format", "json"]) == 2
    assert "No space left" in capsys.readouterr().err
