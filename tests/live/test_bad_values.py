"""One value that cannot be read costs only itself: the rest of its cadence window is kept."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

from advisor.live import Monitor
from advisor.live.recorder import to_host

from .helpers import diverging

torch = pytest.importorskip("torch")


class FloatRaises:
    """An object that claims to be a number and fails when read."""

    def __float__(self) -> float:
        raise RuntimeError("no float today")


def bad_values() -> dict[str, object]:
    """Values a training loop can hand the monitor that no host transfer can read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about sparse invariants and quantization
        return {
            "meta": torch.empty(1, device="meta"),
            "sparse": torch.sparse_coo_tensor([[0]], [1.0], (1,)),
            "quantized": torch.quantize_per_tensor(torch.tensor([0.5]), 0.1, 0, torch.qint8),
            "huge_int": 10**400,
            "float_raises": FloatRaises(),
            "text": "abc",
            "a_dtype": torch.float32,  # a torch object that is not a tensor
        }


def test_a_bad_value_is_skipped_and_the_good_stream_is_complete(caplog):
    bad = bad_values()
    loss = diverging(600, 400, growth=1.05)
    mon = Monitor(every=50, on_finding=None, budget=0)
    with caplog.at_level(logging.WARNING, logger="advisor.live"):
        for step, v in enumerate(loss):
            mon.log(step, bad, loss=torch.tensor(float(v)), lr=1e-3)  # bad values first, every step
        mon.close()
    series = mon.run().series
    assert set(series) == {"train/loss", "train/lr"}
    np.testing.assert_allclose(series["train/loss"].values, loss.astype(np.float32), rtol=1e-6)
    assert mon.n_diagnoses > 0 and "divergence" in [f.condition for f in mon.findings]
    msgs = [r.getMessage() for r in caplog.records]
    for tag in bad:  # each reported once, by its tag
        assert sum(f"{tag}:" in m and "skipped" in m for m in msgs) == 1, (tag, msgs)
    assert "transfer" not in mon.recorder.failures and "log" not in mon.recorder.failures


def test_good_tensors_stay_one_batched_copy_when_bad_ones_are_mixed_in(monkeypatch):
    copies: list[tuple[int, str]] = []  # (elements, device) of each copy of plain float tensors
    real_cpu = torch.Tensor.cpu

    def counting_cpu(t, *a, **k):
        if t.dtype == torch.float32 and t.layout == torch.strided:
            copies.append((t.numel(), t.device.type))
        return real_cpu(t, *a, **k)

    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    good = [torch.tensor(float(i)) for i in range(50)]
    bad = list(bad_values().values())
    values = good[:25] + bad + good[25:]
    out = to_host(values)
    assert [float(a[0]) for a in out[:25] + out[-25:]] == list(map(float, range(50)))
    assert out[25 : 25 + len(bad)] == [None] * len(bad)
    assert [c for c in copies if c[1] != "meta"] == [(50, "cpu")]  # the good ones: one batched copy


def test_errors_name_why_a_value_was_skipped():
    errors: dict[int, BaseException] = {}
    out = to_host([1.0, 10**400, torch.empty(1, device="meta")], errors)
    assert out[0] is not None and out[1] is None and out[2] is None
    assert isinstance(errors[1], OverflowError) and 2 in errors and 0 not in errors
