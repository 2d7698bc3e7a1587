"""Tuning your own trainer: ``train.py`` is a plain PyTorch script, ``tune.py`` wraps it in the
three functions ``advisor tune`` calls (see README, "Tune your own trainer")."""
