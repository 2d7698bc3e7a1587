"""The io core needs only the standard library and numpy, at import and while reading."""

from __future__ import annotations

import json
import subprocess
import sys

from iotest_helpers import REPO

HEAVY = ("torch", "tensorboard", "tensorboardX", "tbparse", "tensorflow", "jax", "tensorboard_data_server", "google")

CODE = """
import json, sys, tempfile, os
import advisor.io.tfevents, advisor.io._fast, advisor.io.parallel, advisor.io.writer, advisor.io.crc32c, advisor.io.wire
from advisor.io.writer import EventWriter
from advisor.io.parallel import read_event_files
d = tempfile.mkdtemp()
with EventWriter(d, filename="events.out.tfevents.x") as w:
    w.add_hparams({"lr": 0.1})
    for s in range(2000):
        w.add_scalars({"a": s, "b": -s}, s)
    w.add_text("t", "x")
ef = read_event_files([os.path.join(d, "events.out.tfevents.x")] * 2, workers=2)[0]
assert ef.n_scalars == 4000, ef.problems
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_core_imports_only_stdlib_and_numpy():
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, cwd=REPO, check=True)
    loaded = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "numpy" in loaded and "advisor" in loaded
    assert not loaded & set(HEAVY), loaded & set(HEAVY)
