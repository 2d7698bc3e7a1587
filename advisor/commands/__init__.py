"""One module per ``advisor`` command: argument handling, progress bars, exit codes.

Each module has ``run(args) -> int``; :mod:`advisor.cli` holds the parser and dispatches.
"""
