"""Tests marked `alone` run with nothing of their run beside them under pytest-xdist (tests/conftest.py).

A small suite runs with `-n 2`: ordinary tests and `alone` tests write when they start and end; no `alone`
test's span may overlap any other test's, while ordinary tests do overlap each other (the control: the run
really is parallel, so the check could fail).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT

SUITE = textwrap.dedent("""\
    import json, os, time
    import pytest

    def _span(tmp, name, seconds):
        start = time.monotonic()
        time.sleep(seconds)
        with open(os.environ["SPANS"], "a") as f:
            f.write(json.dumps([name, start, time.monotonic()]) + "\\n")

    @pytest.mark.parametrize("i", range(8))
    def test_ordinary(i):
        _span(None, f"ordinary{i}", 0.4)

    @pytest.mark.alone
    @pytest.mark.parametrize("i", range(2))
    def test_alone(i):
        _span(None, f"alone{i}", 0.6)
    """)


@pytest.mark.slow  # a small suite under `pytest -n 2`, with sleeps (about 8 s)
def test_alone_tests_never_overlap_another_test(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_spans.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    alone: alone\n")
    spans_file = tmp_path / "spans.jsonl"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-q",
                           "-p", "no:randomly", str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "SPANS": str(spans_file)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    spans = [json.loads(line) for line in spans_file.read_text().splitlines()]
    assert len(spans) == 10

    def overlap(a, b):
        return a[1] < b[2] and b[1] < a[2]

    alone = [s for s in spans if s[0].startswith("alone")]
    others = [s for s in spans if s not in alone]
    assert [(a[0], b[0]) for a in alone for b in spans if a is not b and overlap(a, b)] == []
    assert any(overlap(a, b) for a in others for b in others if a is not b), "the run was not parallel"
