"""Hostile step 3: the file system — the grader's checkout, other learners, the work folders."""
import glob
import os

from _common import attempt, finish, vandalise


def checkouts():
    """Folders that look like the grader's checkout (or a copy of it), wherever they are."""
    found = set()
    for top in ("/work", "/tmp", "/root", "/home", "/srv", "/opt", "/builds", "/github"):
        for depth in range(0, 5):
            for hit in glob.glob(top + "/" + "*/" * depth + "checks/test_step1.py"):
                found.add(os.path.dirname(os.path.dirname(hit)))
    return sorted(found)


def writable_targets():
    targets = []
    for root in checkouts():
        for pattern in ("grader/*.py", "checks/*.py", "conftest.py", "pytest.ini", "tests/submissions/*/*/step*.py"):
            targets += glob.glob(os.path.join(root, pattern))
    for pattern in ("/tmp/handson-grading-*/*.json", "/tmp/handson-sandbox-*/*/work/*.py",
                    "/tmp/pytest-of-*/*/*/*/*/step*.py", "/tmp/pytest-of-*/**/results.json"):
        targets += glob.glob(pattern, recursive=True)
    return targets


@attempt("rewrite the grader, other learners' scripts or the work folder")
def rewrite():
    done = []
    mine = os.getcwd() + os.sep
    for path in writable_targets():
        if path.startswith(mine):  # this script's own copy is its to change
            continue
        try:
            with open(path, "a") as f:
                f.write("\n# mallory was here\n")
            done.append(path)
        except OSError:
            continue
    return done


@attempt("plant a file in the grader's checkout")
def plant():
    planted = []
    for folder in checkouts():
        try:
            with open(os.path.join(folder, "planted-by-mallory.txt"), "w") as f:
                f.write("x")
            planted.append(folder)
        except OSError:
            continue
    return planted


vandalise()
finish()
