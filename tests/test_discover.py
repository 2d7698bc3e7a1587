import os


from advisor.io.discover import discover, split_kind
from advisor.io.runs import load_run
from advisor.io.writer import EventWriter


def _write(d, tag="loss", steps=range(5), start=1.0, fname=None):
    with EventWriter(d, filename=fname) as w:
        for s in steps:
            w.add_scalar(tag, start + s, s)
    return w.path


def names(root):
    return [r.name for r in discover(str(root)).runs]


def test_layouts(tmp_path):
    _write(tmp_path / "keras" / "train", "epoch_loss")
    _write(tmp_path / "keras" / "validation", "epoch_loss")
    _write(tmp_path / "lightning_logs" / "version_0")
    _write(tmp_path / "lightning_logs" / "version_10")
    _write(tmp_path / "lightning_logs" / "version_2")
    _write(tmp_path / "hf" / "runs" / "Nov23_10-00-00_host")
    _write(tmp_path / "catalyst" / "train_log", "loss/batch")
    _write(tmp_path / "catalyst" / "valid_log", "loss/epoch")
    _write(tmp_path / "catalyst" / "_base_log", "lr/epoch")
    got = names(tmp_path)
    assert got == ["catalyst", "hf/runs/Nov23_10-00-00_host", "keras", "lightning_logs/version_0", "lightning_logs/version_2", "lightning_logs/version_10"]
    keras = [r for r in discover(str(tmp_path)).runs if r.name == "keras"][0]
    assert sorted(s for _, s in keras.files) == ["train", "validation"]


def test_root_is_the_run(tmp_path):
    _write(tmp_path)
    assert names(tmp_path) == [tmp_path.name]


def test_pointing_at_a_split_dir_keeps_it_a_run(tmp_path):
    _write(tmp_path / "train", "epoch_loss")
    _write(tmp_path / "validation", "epoch_loss")
    assert names(tmp_path / "train") == ["train"]


def test_hidden_dirs_skipped_and_symlink_loops_safe(tmp_path):
    _write(tmp_path / "a")
    _write(tmp_path / ".hidden")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    d = discover(str(tmp_path))
    assert [r.name for r in d.runs] == ["a"]


def test_single_file_and_broken_link(tmp_path):
    p = _write(tmp_path / "r")
    d = discover(p)
    assert len(d.runs) == 1 and d.runs[0].files == ((os.path.abspath(p), None),)
    os.symlink(tmp_path / "missing", tmp_path / "r" / "events.out.tfevents.broken")
    assert any("broken" in p for p in discover(str(tmp_path)).problems)


def test_nested_split_names_not_merged_when_not_leaves(tmp_path):
    # YOLO-style runs/train/exp and runs/val/exp are runs of their own
    _write(tmp_path / "runs" / "train" / "exp")
    _write(tmp_path / "runs" / "val" / "exp")
    assert names(tmp_path) == ["runs/train/exp", "runs/val/exp"]


def test_files_merge_in_order_and_later_write_wins(tmp_path):
    _write(tmp_path, steps=range(0, 10), start=100.0, fname="events.out.tfevents.1000.h")
    _write(tmp_path, steps=range(5, 15), start=0.0, fname="events.out.tfevents.2000.h")
    run = load_run(discover(str(tmp_path)).runs[0])
    s = run.series["loss"]
    assert list(s.steps) == list(range(15))
    assert s.values[3] == 103.0 and s.values[7] == 7.0  # steps 5-9 from the later file


def test_restart_in_later_file_purges_earlier_points(tmp_path):
    # A resumed run: each session starts with a SessionLog START (TensorBoard's
    # plugin_event_accumulator, which its dashboards use, agrees on every case here).
    with EventWriter(str(tmp_path), filename="events.out.tfevents.1000.h") as w:
        w.add_session_start(0)
        for s in range(10):
            w.add_scalar("loss", 100.0 + s, s)
    with EventWriter(str(tmp_path), filename="events.out.tfevents.2000.h") as w:
        w.add_session_start(4)
        w.add_scalar("loss", 0.5, 6)
    s = load_run(discover(str(tmp_path)).runs[0]).series["loss"]
    assert list(s.steps) == [0, 1, 2, 3, 6]


def test_config_json_read(tmp_path):
    _write(tmp_path)
    (tmp_path / "config.json").write_text('{"optimizer": {"lr": 0.1}}')
    assert load_run(discover(str(tmp_path)).runs[0]).config == {"optimizer": {"lr": 0.1}}


def test_split_kind():
    assert split_kind("validation") == "val" and split_kind("train_log") == "train" and split_kind("foo") is None


def test_first_start_of_a_run_purges_nothing(tmp_path):
    # TensorBoard (plugin_event_accumulator): the run's first START opens the session, wherever it stands
    with EventWriter(str(tmp_path), filename="events.out.tfevents.1000.h") as w:
        for s in range(10):
            w.add_scalar("loss", float(s), s)
        w.add_session_start(5)
    with EventWriter(str(tmp_path), filename="events.out.tfevents.2000.h") as w:
        w.add_scalar("loss", 99.0, 12)
    s = load_run(discover(str(tmp_path)).runs[0]).series["loss"]
    assert list(s.steps) == list(range(10)) + [12]


def test_a_lone_train_dir_is_a_run_not_a_split(tmp_path):
    """Ultralytics names its runs runs/<task>/train, train2, ...: none of them is a split."""
    _write(tmp_path / "runs" / "detect" / "train", "train/box_loss")
    _write(tmp_path / "runs" / "detect" / "train2", "train/box_loss")
    assert names(tmp_path) == ["runs/detect/train", "runs/detect/train2"]
    assert all(s is None for r in discover(str(tmp_path)).runs for _, s in r.files)



def test_a_keras_fit_without_validation_is_its_log_dir_not_train(tmp_path):
    """The Keras TensorBoard callback writes <log_dir>/train and <log_dir>/validation (TF2 files,
    named .v2); a fit without validation data writes only train/. The run is still <log_dir>,
    its train/ a split — Ultralytics' lone train/ (torch files) stays a run of its own."""
    _write(tmp_path / "logs" / "fit" / "20230607-165557" / "train", "epoch_loss", fname="events.out.tfevents.1686131758.h.25172.3.v2")
    (run,) = discover(str(tmp_path)).runs
    assert run.name == "logs/fit/20230607-165557" and [s for _, s in run.files] == ["train"]

def test_estimator_model_dir_with_eval_subdir_is_one_run(tmp_path):
    """TF Estimator: training events in model_dir itself, evaluation in model_dir/eval/."""
    _write(tmp_path / "model", "loss")
    _write(tmp_path / "model" / "eval", "loss")
    (run,) = discover(str(tmp_path)).runs
    assert run.name == "model" and sorted(str(s) for _, s in run.files) == ["None", "eval"]


def test_add_hparams_time_named_subdirectory_is_part_of_its_run(tmp_path):
    """SummaryWriter.add_hparams (torch, tensorboardX, the HF Trainer) writes the hparams into a
    subdirectory named str(time.time()): it is the run's, not a run of its own, and its
    hparams (lr, optimizer, num_classes) are the run's; its scalars repeat final metrics."""
    run = tmp_path / "runs" / "Nov23_10-00-00_host"
    _write(run, "Loss/train", steps=range(20))
    with EventWriter(str(run / "1796067927.2886472")) as w:
        w.add_hparams({"lr": 0.5, "optimizer": "sgd", "num_classes": 10})
        w.add_scalar("hparam/best_val_loss", 0.3, 0)
    (rf,) = discover(str(tmp_path)).runs
    assert rf.name == "runs/Nov23_10-00-00_host"
    loaded = load_run(rf)
    assert loaded.hparams["lr"] == 0.5 and loaded.hparams["optimizer"] == "sgd"
    assert list(loaded.series) == ["Loss/train"]
    # a stamped directory with no run beside it stays what it is; a split beside it still merges
    _write(tmp_path / "other" / "1796067928.5", "loss")
    _write(run / "train", "epoch_loss")
    _write(run / "validation", "epoch_loss")
    runs = {r.name: r for r in discover(str(tmp_path)).runs}
    assert sorted(runs) == ["other/1796067928.5", "runs/Nov23_10-00-00_host"]
    assert sorted(str(s) for _, s in runs["runs/Nov23_10-00-00_host"].files) == ["#hparams", "None", "train", "validation"]


def test_torch_add_hparams_run_keeps_its_declared_rate(tmp_path):
    torch_tb = __import__("pytest").importorskip("torch.utils.tensorboard")
    w = torch_tb.SummaryWriter(log_dir=str(tmp_path / "run"))
    for s in range(10):
        w.add_scalar("Loss/train", 2.3, s)
    w.add_hparams({"lr": 3.0, "optimizer": "adam"}, {"hparam/best_val_loss": 2.3})
    w.close()
    (rf,) = discover(str(tmp_path)).runs
    loaded = load_run(rf)
    assert rf.name == "run" and loaded.hparams["lr"] == 3.0 and "Loss/train" in loaded.series


def test_a_later_file_that_goes_back_in_steps_without_a_start_is_reported(tmp_path):
    # torch writers never write a SessionLog START: a training run again into the same directory
    # (here still running at step 29) is glued to the older run's tail (steps 30-99) as
    # TensorBoard glues it; which run the user means the files do not say, so the run says what
    # it found. (A later Catalyst stage writes the same way, and there the later points are no
    # replacement for the earlier ones.)
    _write(tmp_path, steps=range(0, 100), start=100.0, fname="events.out.tfevents.1000.h")
    _write(tmp_path, steps=range(0, 30), start=0.0, fname="events.out.tfevents.2000.h")
    run = load_run(discover(str(tmp_path)).runs[0])
    s = run.series["loss"]
    assert list(s.steps) == list(range(100)) and s.values[29] == 29.0 and s.values[30] == 130.0
    (msg,) = run.problems
    assert "events.out.tfevents.2000.h writes loss again from step 0" in msg and "reached step 99" in msg
    # a later file that continues where the earlier stopped, or rewrites its last step, is the same training
    _write(tmp_path / "cont", steps=range(0, 50), fname="events.out.tfevents.1000.h")
    _write(tmp_path / "cont", steps=range(49, 80), fname="events.out.tfevents.2000.h")
    run = load_run([r for r in discover(str(tmp_path)).runs if r.name == "cont"][0])
    assert len(run.series["loss"]) == 80 and run.problems == ()


def test_files_written_at_the_same_time_are_called_several_processes(tmp_path):
    # every DDP rank logging into the run's directory: the same tags and steps, at the same time
    for rank in range(2):
        with EventWriter(str(tmp_path), filename=f"events.out.tfevents.1000.h.{rank}") as w:
            for s in range(20):
                w.add_scalar("loss", 1.0 / (s + 1) + rank * 0.01, s, wall_time=1_700_000_000.0 + s)
    run = load_run(discover(str(tmp_path)).runs[0])
    (msg,) = run.problems
    assert "several processes" in msg and "writes loss again from step 0" in msg


def test_estimator_named_evaluation_dir_is_the_val_side(tmp_path):
    """TF Estimator writes a named evaluation to model_dir/eval_<name> (Object Detection API: eval_0)."""
    _write(tmp_path / "model", "loss")
    _write(tmp_path / "model" / "eval_0", "loss")
    (run,) = discover(str(tmp_path)).runs
    assert run.name == "model" and sorted(str(s) for _, s in run.files) == ["None", "eval_0"]
    assert split_kind("eval_0") == split_kind("eval_validation") == "val" and split_kind("evaluate") is None


def test_add_scalars_subdirectories_are_the_splits_of_their_run(tmp_path):
    """torch's and tensorboardX's ``SummaryWriter.add_scalars("Loss", {"train": .., "val": ..})``
    writes Loss_train/ and Loss_val/ (tag ``Loss`` each) beside the writer's own file: one run,
    whose train and validation losses resolve; a sweep of exp_1/, exp_2/ stays separate runs."""
    run_dir = tmp_path / "runs" / "saint" / "2025-06-10--14:05:59"
    _write(run_dir, "hp", steps=[])  # the writer's own (scalar-less) file
    for key, start in (("train", 0.69), ("val", 0.70), ("test", 0.71)):
        _write(run_dir / f"Loss_{key}", "Loss", start=start)
        _write(run_dir / f"Accuracy_{key}", "Accuracy", start=0.5)
    _write(tmp_path / "sweep" / "exp_1")
    _write(tmp_path / "sweep" / "exp_2")
    rfs = {r.name: r for r in discover(str(tmp_path)).runs}
    assert sorted(rfs) == ["runs/saint/2025-06-10--14:05:59", "sweep/exp_1", "sweep/exp_2"]
    run = load_run(rfs["runs/saint/2025-06-10--14:05:59"])
    assert {"train/Loss", "val/Loss", "test/Loss", "val/Accuracy"} <= set(run.series)
    from advisor.io.roles import resolve
    from advisor.model import Role

    sig = resolve(run, None, "supervised", None)
    assert sig.roles[Role.TRAIN_LOSS] == "train/Loss" and sig.roles[Role.VAL_LOSS] == "val/Loss"
