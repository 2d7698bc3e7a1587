"""The live core and `advisor watch` import only stdlib + numpy; adapters name their extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK = textwrap.dedent(
    """
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split('.')[0] in {'torch', 'jax', 'jaxlib', 'flax', 'optax', 'lightning', 'pytorch_lightning', 'tensorboard', 'scipy', 'pandas', 'transformers', 'keras'}:
                raise ImportError('blocked: ' + name)
    sys.meta_path.insert(0, Block())
    """
)


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True, cwd=".", check=False)


def test_live_core_and_watch_import_and_work_without_frameworks():
    r = run(
        """
        import advisor.live, advisor.live.monitor, advisor.live.recorder, advisor.live.tripwire, advisor.live.reservoir, advisor.watch
        import advisor.live.act, advisor.live.judge, advisor.live.summary
        from advisor.live import Monitor
        mon = Monitor(every=10, on_finding=None)
        for s in range(100):
            mon.log(s, loss=1.0 / (s + 1))
        mon.close()
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'jax', 'optax', 'lightning', 'rich'})
        print('HEAVY', heavy, len(mon.run().series['train/loss']))
        """
    )
    assert r.returncode == 0, r.stderr
    assert "HEAVY [] 100" in r.stdout


def test_adapters_name_the_extra_to_install():
    for mod, extra in (("advisor.live.torch", "[torch]"), ("advisor.live.optax", "[jax]"), ("advisor.live.lightning", "[lightning]"), ("advisor.live.hf", "[hf]"), ("advisor.live.keras", "[keras]")):
        r = run(
            f"""
            try:
                import {mod}
            except ImportError as e:
                print('MSG', e)
            """
        )
        assert r.returncode == 0, r.stderr
        assert f"pip install training-advisor{extra}" in r.stdout, (mod, r.stdout)
