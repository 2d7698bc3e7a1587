"""Per-condition recall/precision and the confusion table of the analyzer on the fixture corpus.

    python benchmarks/fixture_accuracy.py [FIXTURES_DIR]
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from advisor.evaluate import evaluate, format_report  # noqa: E402

if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "fixtures")
    sys.stdout.write(format_report(evaluate(root)))
