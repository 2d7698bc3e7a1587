"""advisor.io is built in floors that import only downwards (no circles, nothing from above io).

Reading an event file follows TensorBoard's own layers: TFRecord framing, Event decoding, the
accumulator, the reader. The vectorised reader sits between the accumulator and the reader: it
feeds the same accumulator and hands records back to the general decoder, but never imports
the reader that dispatches to it.
"""

from __future__ import annotations

import ast
import os

from iotest_helpers import REPO

IO = os.path.join(REPO, "advisor", "io")

# Lowest first; a module may import only modules of a lower floor.
FLOORS: list[set[str]] = [
    {"crc32c", "wire", "discover", "stepless"},
    {"records", "hparams", "tags"},  # tags: the vocabulary of tag names
    {"accumulator", "writer", "roles"},
    {"events"},
    {"_fast_template"},
    {"_fast_batch", "_fast_single", "_fast_plan"},
    {"_fast_shape"},
    {"_fast_learn"},
    {"_fast_file"},
    {"_fast"},
    {"tfevents"},
    {"remote"},  # object storage (fsspec, lazily): the reader over fetched bytes
    {"parallel", "runs"},
]
#: What io may use from the rest of advisor: the data model and the error types, which are below it.
OUTSIDE_ALLOWED = {"advisor.model", "advisor.errors"}


def _imports(path: str) -> set[str]:
    """Every advisor module ``path`` imports, at the top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("advisor"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("advisor"):
            if node.module == "advisor.io":  # from advisor.io import wire, _fast
                out.update(f"advisor.io.{a.name}" for a in node.names)
            else:
                out.add(node.module)
    return out


def _modules() -> list[str]:
    return sorted(f[:-3] for f in os.listdir(IO) if f.endswith(".py") and f != "__init__.py")


def test_every_io_module_has_a_floor():
    placed = set().union(*FLOORS)
    assert set(_modules()) == placed, set(_modules()) ^ placed


def test_io_imports_only_downwards():
    floor = {m: i for i, ms in enumerate(FLOORS) for m in ms}
    wrong = []
    for mod in _modules():
        for imp in _imports(os.path.join(IO, mod + ".py")):
            if imp.startswith("advisor.io."):
                target = imp.split(".")[2]
                if floor[target] >= floor[mod]:
                    wrong.append(f"{mod} (floor {floor[mod]}) imports {target} (floor {floor[target]})")
            elif imp not in OUTSIDE_ALLOWED:
                wrong.append(f"{mod} imports {imp}, above io")
    assert not wrong, "\n".join(wrong)
