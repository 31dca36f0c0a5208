"""`pytest tests -m "not slow"` leaves out every test that starts a stack (the rule in tests/conftest.py).

A small suite, with the suite's own conftest, is collected with `-m "not slow"`: a test that uses one of the
slow fixtures (directly or through another fixture) or is marked `realstack` is deselected, a plain one is kept
(the control: the rule does not simply drop everything). Then the tests of this very run are held to the rule,
and each fixture the rule names must still exist in tests/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap

import pytest

from conftest import ROOT, SLOW_FIXTURES

SUITE = textwrap.dedent("""\
    import pytest

    # Stand-ins with the names of the slow fixtures: nothing is started, only names are looked at.
    @pytest.fixture
    def local_stack():
        return "stack"

    @pytest.fixture
    def embedded():
        return "stack"

    @pytest.fixture
    def cli_run():
        return "output"

    @pytest.fixture
    def graded(local_stack):
        return local_stack

    def test_plain():
        pass

    def test_uses_the_stack(local_stack):
        pass

    def test_uses_the_stack_through_another_fixture(graded):
        pass

    def test_uses_an_embedded_stack(embedded):
        pass

    def test_uses_a_class_run(cli_run):
        pass

    @pytest.mark.realstack
    def test_marked_realstack():
        pass

    @pytest.mark.slow
    def test_marked_slow_by_hand():
        pass
    """)


def test_not_slow_leaves_out_every_test_that_starts_a_stack(tmp_path):
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_rule.py").write_text(SUITE)
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    slow: slow\n    realstack: realstack\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
                           "--collect-only", "-q", "-m", "not slow", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    selected = [line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line]
    assert selected == ["test_plain"], proc.stdout
    assert "1/7 tests collected (6 deselected)" in proc.stdout, proc.stdout


def test_every_test_of_this_run_that_starts_a_stack_is_slow(request):
    """Whatever this run collected (all of tests/ in a full run): no slow fixture without `slow`."""
    unmarked = [item.nodeid for item in request.session.items
                if (SLOW_FIXTURES & set(item.fixturenames) or item.get_closest_marker("realstack"))
                and item.get_closest_marker("slow") is None]
    assert unmarked == []


@pytest.mark.parametrize("name", sorted(SLOW_FIXTURES))
def test_each_slow_fixture_is_one_the_suite_defines(name):
    """A renamed fixture would leave the rule looking for a name no test uses."""
    defined = [path.name for path in (ROOT / "tests").glob("*.py")
               if re.search(rf"@pytest\.fixture[^\n]*\n\s*def {name}\(", path.read_text(encoding="utf-8"))]
    assert defined, f"no fixture named {name} in tests/"
