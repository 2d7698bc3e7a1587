"""Interop with TensorBoard's own reader and with other writers (each skipped when not installed).

The reference is TensorBoard's ``plugin_event_accumulator.EventAccumulator`` (what the
TensorBoard UI shows), loaded with every tensor kept. What tensorboardX, torch's
SummaryWriter and TF2-style tensor summaries (built from TensorBoard's own protos, in every
scalar encoding) write must read identically in ours: tags, steps, values, wall times; and
what our writer writes must read identically in TensorBoard, hparams and text included.
"""

from __future__ import annotations

import glob
import math
import os
import warnings

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iotest_helpers import random_event_file, summary_event, write

from advisor.io.records import frame
from advisor.io.tfevents import read_event_file
from advisor.io.writer import EventWriter, event_bytes, scalar_value

tb = pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import plugin_event_accumulator as pea  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2  # noqa: E402
from tensorboard.summary.writer.event_file_writer import EventFileWriter  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

Points = dict[str, list[tuple[int, float, float]]]


def _tb_value(t: tensor_pb2.TensorProto) -> float:
    """TensorBoard's tensor as a number; bfloat16 (which its numpy-only build cannot convert) by the spec."""
    if t.dtype == types_pb2.DT_BFLOAT16:
        bits = np.frombuffer(t.tensor_content, "<u2") if t.tensor_content else np.array(t.half_val, dtype=np.uint32)
        return float((bits.astype(np.uint32) << 16).view(np.float32)[0])
    if t.dtype in (types_pb2.DT_UINT32, types_pb2.DT_UINT64):  # also unsupported there
        wide = t.dtype == types_pb2.DT_UINT64
        if t.tensor_content:
            return float(np.frombuffer(t.tensor_content, "<u8" if wide else "<u4")[0])
        return float((t.uint64_val if wide else t.uint32_val)[0])
    return float(tensor_util.make_ndarray(t).reshape(-1)[0])


def accumulator(path: str) -> pea.EventAccumulator:
    acc = pea.EventAccumulator(path, size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    return acc


def tb_scalars(path: str) -> Points:
    acc = accumulator(path)
    out: Points = {}
    for tag in acc.Tags()["tensors"]:
        if tb_plugin(acc, tag) != "scalars":
            continue
        # Its scalar dashboard shows one-element tensors (it cannot show others).
        points = [(e.step, e.wall_time, _tb_value(e.tensor_proto)) for e in acc.Tensors(tag) if _elements(e.tensor_proto) == 1]
        if points:  # a tag whose every point was purged stays listed, empty
            out[tag] = points
    return out


def tb_plugin(acc: pea.EventAccumulator, tag: str) -> str | None:
    """The plugin TensorBoard assigns ``tag`` (None: no value of it had metadata)."""
    try:
        return acc.SummaryMetadata(tag).plugin_data.plugin_name
    except KeyError:
        return None


def _elements(t: tensor_pb2.TensorProto) -> int:
    return int(np.prod([d.size for d in t.tensor_shape.dim], dtype=np.int64))


def our_scalars(path: str) -> Points:
    ef = read_event_file(path)
    assert ef.bad_crc == 0 and ef.bad_records == 0 and not ef.truncated, ef.problems
    return {tag: list(zip(d.steps.tolist(), d.wall_times.tolist(), d.values.tolist())) for tag, d in ef.scalars.items()}


def assert_points_equal(ours: Points, theirs: Points) -> None:
    assert sorted(ours) == sorted(theirs)
    for tag in theirs:
        assert len(ours[tag]) == len(theirs[tag]), tag
        for (s1, w1, v1), (s2, w2, v2) in zip(ours[tag], theirs[tag]):
            assert s1 == s2 and w1 == w2, (tag, s1, s2, w1, w2)
            assert v1 == v2 or (math.isnan(v1) and math.isnan(v2)), (tag, s1, v1, v2)


def only_file(logdir: str) -> str:
    files = glob.glob(os.path.join(logdir, "**", "*tfevents*"), recursive=True)
    assert len(files) == 1, files
    return files[0]


VALUES = [0.0, -0.0, 1.5, -2.25, 1e-8, 3.4e38, float("inf"), float("-inf"), float("nan"), 0.1]


def _curve(n: int) -> list[float]:
    return [VALUES[i % len(VALUES)] if i % 7 == 0 else math.sin(i) * 10 ** (i % 5) for i in range(n)]


# --------------------------------------------------------------------------- other writers -> ours == TensorBoard


@pytest.mark.parametrize("display_name", ["", "Loss (train)"])
def test_tensorboardx_scalars(tmp_path, display_name):
    tbx = pytest.importorskip("tensorboardX")
    w = tbx.SummaryWriter(str(tmp_path))
    for step, v in enumerate(_curve(300)):
        w.add_scalar("train/loss", v, step, walltime=1.6e9 + step * 0.25, display_name=display_name)
        w.add_scalar("train/lr", 0.1 / (1 + step), step, walltime=1.6e9 + step * 0.25 + 0.01)
        if step % 50 == 0:
            w.add_scalar("val/loss", v / 2, step, walltime=1.6e9 + step * 0.25 + 0.02)
    w.close()
    path = only_file(str(tmp_path))
    assert_points_equal(our_scalars(path), tb_scalars(path))


@pytest.mark.parametrize("new_style,double_precision", [(False, False), (True, False), (True, True)])
def test_torch_summary_writer_scalars(tmp_path, new_style, double_precision):
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.utils.tensorboard import SummaryWriter
    w = SummaryWriter(str(tmp_path))
    for step, v in enumerate(_curve(300)):
        for i, tag in enumerate(("Loss/train", "Accuracy/train", "lr")):
            w.add_scalar(tag, v + i, step, walltime=1.7e9 + step + i * 1e-3, new_style=new_style, double_precision=double_precision)
    w.add_text("notes", "a run", 0)
    w.close()
    path = only_file(str(tmp_path))
    ours, theirs = our_scalars(path), tb_scalars(path)
    assert_points_equal(ours, theirs)
    assert len(ours["lr"]) == 300
    assert read_event_file(path).texts == tb_texts(path) == {"notes/text_summary": "a run"}


def tb_texts(path: str) -> dict[str, str]:
    acc = accumulator(path)
    out = {}
    for tag in acc.Tags()["tensors"]:
        if tb_plugin(acc, tag) == "text" and acc.Tensors(tag):  # a purged tag stays listed, empty
            arr = tensor_util.make_ndarray(acc.Tensors(tag)[-1].tensor_proto)
            out[tag] = "\n".join(x.decode("utf-8") for x in np.asarray(arr).reshape(-1))
    return out


def _tensor(encoding: str, value: float) -> tensor_pb2.TensorProto:
    shape = tensor_shape_pb2.TensorShapeProto()

    def t(dtype: int, **kw) -> tensor_pb2.TensorProto:
        return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=shape, **kw)

    f32 = np.array([value], dtype=np.float32)
    bf16 = int(f32.view(np.uint32)[0] >> 16)
    return {
        "float_val": lambda: t(types_pb2.DT_FLOAT, float_val=[value]),
        "double_val": lambda: t(types_pb2.DT_DOUBLE, double_val=[value]),
        "half_val_float16": lambda: t(types_pb2.DT_HALF, half_val=[int(np.array([value], np.float16).view(np.uint16)[0])]),
        "half_val_bfloat16": lambda: t(types_pb2.DT_BFLOAT16, half_val=[bf16]),
        "int_val": lambda: t(types_pb2.DT_INT32, int_val=[int(value)]),
        "int64_val": lambda: t(types_pb2.DT_INT64, int64_val=[int(value)]),
        "content_float32": lambda: t(types_pb2.DT_FLOAT, tensor_content=f32.tobytes()),
        "content_float64": lambda: t(types_pb2.DT_DOUBLE, tensor_content=np.array([value], "<f8").tobytes()),
        "content_float16": lambda: t(types_pb2.DT_HALF, tensor_content=np.array([value], "<f2").tobytes()),
        "content_bfloat16": lambda: t(types_pb2.DT_BFLOAT16, tensor_content=np.array([bf16], "<u2").tobytes()),
        "content_int32": lambda: t(types_pb2.DT_INT32, tensor_content=np.array([int(value)], "<i4").tobytes()),
        "content_int64": lambda: t(types_pb2.DT_INT64, tensor_content=np.array([int(value)], "<i8").tobytes()),
    }[encoding]()


TF2_ENCODINGS = [
    "float_val",
    "double_val",
    "half_val_float16",
    "half_val_bfloat16",
    "int_val",
    "int64_val",
    "content_float32",
    "content_float64",
    "content_float16",
    "content_bfloat16",
    "content_int32",
    "content_int64",
]


@pytest.mark.parametrize("encoding", TF2_ENCODINGS)
def test_tf2_tensor_summaries_every_encoding(tmp_path, encoding):
    """TF2 ``tf.summary.scalar`` layout: a tensor per event, ``scalars`` metadata on a tag's first record only."""
    w = EventFileWriter(str(tmp_path))
    meta = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    ints = "int" in encoding
    for step in range(400):
        for i, tag in enumerate(("epoch_loss", "epoch_accuracy")):
            value = float((step * 7 + i) % 300 - 100) if ints else float(np.float16(math.cos(step) * (i + 1)))
            v = summary_pb2.Summary.Value(tag=tag, tensor=_tensor(encoding, value))
            if step == 0:
                v.metadata.CopyFrom(meta)
            w.add_event(event_pb2.Event(wall_time=1.6e9 + step, step=step, summary=summary_pb2.Summary(value=[v])))
    w.close()
    path = only_file(str(tmp_path))
    ours, theirs = our_scalars(path), tb_scalars(path)
    assert_points_equal(ours, theirs)
    assert len(ours["epoch_loss"]) == 400


# --------------------------------------------------------------------------- ours -> TensorBoard


def test_our_writer_reads_identically_in_tensorboard(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    hp = {"lr": 0.003, "optimizer": "adamw", "layers": 4, "batchnorm": True}
    with EventWriter(str(tmp_path), filename="events.out.tfevents.ours") as w:
        w.add_hparams(hp, metrics=["val/loss"], wall_time=1.0)
        for step, v in enumerate(_curve(500)):
            w.add_scalars({"train/loss": v, "train/lr": 1e-3, "λ/ünïcode": -v}, step, wall_time=2.0 + step)
            if step % 100 == 0:
                w.add_scalar("val/loss", v * 2, step, wall_time=2.5 + step)
        w.add_text("notes", "first line\nsecond line ✓", 0, wall_time=3.0)
    path = w.path
    assert_points_equal(our_scalars(path), tb_scalars(path))
    ef = read_event_file(path)
    assert tb_texts(path) == ef.texts == {"notes": "first line\nsecond line ✓"}
    acc = accumulator(path)
    content = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    theirs = {}
    for k, v in start.hparams.items():
        kind = v.WhichOneof("kind")
        theirs[k] = getattr(v, kind)
    assert theirs == {"lr": 0.003, "optimizer": "adamw", "layers": 4.0, "batchnorm": True} == ef.hparams
    experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    assert sorted(h.name for h in experiment.hparam_infos) == sorted(hp)
    assert [m.name.tag for m in experiment.metric_infos] == ["val/loss"]


def test_session_start_purges_like_tensorboard(tmp_path):
    """The first START starts the session; each later one drops what was written before it at
    steps >= its step, in every tag, exactly as TensorBoard does."""
    with EventWriter(str(tmp_path), filename="events.out.tfevents.restart") as w:
        w.add_session_start(0, wall_time=0.5)
        for step in range(50):
            w.add_scalars({"loss": 1.0 / (step + 1), "acc": step / 50}, step, wall_time=float(step))
        w.add_scalar("other", 1.0, 45, wall_time=60.0)
        w.add_session_start(30, wall_time=100.0)
        for step in range(30, 40):
            w.add_scalars({"loss": -1.0 * step, "acc": 2.0}, step, wall_time=100.0 + step)
        w.add_session_start(35, wall_time=200.0)
        w.add_scalar("loss", 7.0, 36, wall_time=201.0)
    ours, theirs = our_scalars(w.path), tb_scalars(w.path)
    assert_points_equal(ours, theirs)
    assert [s for s, _, _ in ours["loss"]] == list(range(30)) + list(range(30, 35)) + [36]
    assert "other" not in ours  # its only point (step 45) predates the restart at 30
    assert len(read_event_file(w.path).restarts) == 3


def test_first_start_does_not_purge_like_tensorboard(tmp_path):
    with EventWriter(str(tmp_path), filename="events.out.tfevents.first") as w:
        for step in range(20):
            w.add_scalar("loss", float(step), step, wall_time=float(step))
        w.add_session_start(5, wall_time=30.0)  # the first START: the session's start, not a restart
        w.add_scalar("loss", -1.0, 6, wall_time=31.0)
    ours, theirs = our_scalars(w.path), tb_scalars(w.path)
    assert_points_equal(ours, theirs)
    assert len(ours["loss"]) == 21


def test_files_without_version_purge_out_of_order_steps_like_tensorboard(tmp_path):
    """No file_version (old writers): a step that goes back purges that event's tags, not STARTs."""
    recs = []
    for step in list(range(0, 30)) + list(range(20, 25)) + [3] + list(range(40, 45)):
        recs.append(frame(summary_event(float(step), step, scalar_value("a", step * 1.0))))
        if step % 4 == 0:
            recs.append(frame(summary_event(float(step), step, scalar_value("b", -step * 1.0))))
    recs.append(frame(event_bytes(99.0, 41, session_log=b"\x08\x01")))  # ignored without a version
    recs.append(frame(event_bytes(99.0, 42, session_log=b"\x08\x01")))
    path = str(tmp_path / "events.out.tfevents.legacy")
    with open(path, "wb") as fh:
        fh.write(b"".join(recs))
    ours, theirs = our_scalars(path), tb_scalars(path)
    assert_points_equal(ours, theirs)
    assert [s for s, _, _ in ours["a"]] == [0, 1, 2, 3, 40, 41, 42, 43, 44]


def test_torch_writer_restart_purges_like_tensorboard(tmp_path):
    pytest.importorskip("torch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.utils.tensorboard import SummaryWriter
    start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
    w = SummaryWriter(str(tmp_path))
    w.file_writer.add_event(event_pb2.Event(step=0, wall_time=0.5, session_log=start))  # session start
    for step in range(20):
        w.add_scalar("loss", step, step, walltime=float(step))
    w.file_writer.add_event(event_pb2.Event(step=8, wall_time=50.0, session_log=start))  # restart
    for step in range(8, 12):
        w.add_scalar("loss", -step, step, walltime=60.0 + step)
    w.close()
    path = only_file(str(tmp_path))
    ours = our_scalars(path)
    assert_points_equal(ours, tb_scalars(path))
    assert [s for s, _, _ in ours["loss"]] == list(range(12))
    assert read_event_file(path).restarts == ((1, 0), (22, 8))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_files_read_like_tensorboard(tmp_path_factory, seed):
    """Every scalar TensorBoard shows, we read identically (restarts, out-of-order steps, every
    encoding, multi-value events, text, hparams, histograms in between); what we read beyond
    it is only plugin-less tensors, which TensorBoard's scalar dashboard does not list."""
    rng = np.random.default_rng(seed)
    path = write(str(tmp_path_factory.mktemp("tbrand") / "events.out.tfevents.rand"), random_event_file(rng, 300, junk=False))
    ef = read_event_file(path)
    theirs = tb_scalars(path)
    ours = {t: p for t, p in our_scalars(path).items() if t in theirs}
    assert_points_equal(ours, theirs)
    extra = set(ef.scalars) - set(theirs)
    acc = accumulator(path)
    for tag in extra:
        assert tb_plugin(acc, tag) is None, tag
    assert ef.texts == tb_texts(path)
