"""The core imports only the standard library and numpy."""

import subprocess
import sys
import textwrap

BLOCK = textwrap.dedent(
    """
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split('.')[0] in {'torch', 'jax', 'jaxlib', 'flax', 'optax', 'tensorboard', 'tensorboardX', 'tensorflow', 'lightning', 'pytorch_lightning', 'sklearn', 'scipy', 'pandas', 'matplotlib'}:
                raise ImportError('blocked: ' + name)
    sys.meta_path.insert(0, Block())
    """
)


def run(code):
    return subprocess.run([sys.executable, "-c", BLOCK + textwrap.dedent(code)], capture_output=True, text=True, cwd=".")


def test_core_modules_import_with_frameworks_blocked():
    r = run(
        """
        import advisor, advisor.model, advisor.signals, advisor.engine, advisor.analyze, advisor.cli, advisor.config
        import advisor.io.tfevents, advisor.io.writer, advisor.io.discover, advisor.io.roles, advisor.io.runs
        import advisor.rules, advisor.remedies, advisor.render.text, advisor.render.json
        heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'jax', 'tensorboard', 'rich', 'scipy'})
        print('HEAVY', heavy)
        """
    )
    assert r.returncode == 0, r.stderr
    assert "HEAVY []" in r.stdout


def test_analyze_runs_with_frameworks_blocked(tmp_path):
    r = run(
        f"""
        from advisor.io.writer import EventWriter
        with EventWriter({str(tmp_path)!r}) as w:
            for s in range(50):
                w.add_scalar('train/loss', 2.0 / (s + 1), s)
        from advisor.cli import main
        sys.exit(main(['analyze', {str(tmp_path)!r}, '--format', 'json']))
        """
    )
    assert r.returncode == 0, r.stderr
    assert '"schema": 1' in r.stdout
