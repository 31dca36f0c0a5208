"""A script's interpreter, started before its turn: MLflow already imported when the grader says go.

Run as ``python warm.py MODULE,MODULE,… SCRIPT`` inside the script's own sandbox (its box: uid, namespaces,
copy of the submission, environment — nothing is shared with any other script). While the learner's previous
step runs, it imports the modules the hands-on uses; then it waits for one line on stdin. At ``go`` it runs
SCRIPT as ``python SCRIPT`` would, and the timeout starts then; closing stdin without ``go`` makes it exit
unused (a step that was not graded). Its stdin is at end of file from then on, as the runner's DEVNULL is.

What ``python SCRIPT`` gives and this keeps: ``__name__ == "__main__"`` in a fresh ``__main__`` module with
``__file__`` (absolute), ``__loader__``, ``__spec__ = None``, ``sys.argv == [SCRIPT]``, ``sys.path[0]`` the
script's folder, the source decoded by its own coding cookie, the same exit status (an uncaught exception:
its traceback without this file's frames, exit 1; ``sys.exit(x)`` as is), the same output streams. The one
difference a script can see: ``sys.modules`` already holds the warmed modules.

Where importing early could change what the script does, it is not done: nothing is imported from the
script's folder before ``go`` (the folder is off ``sys.path`` while warming), and when a module imported
while warming has a top-level name the script's folder also holds (``requests.py``, a ``numpy/`` folder, a
learner's ``mlflow.py``), ``python SCRIPT`` would have imported the learner's file instead: this process then
becomes exactly that, a fresh ``python SCRIPT`` (``os.execv``), cold. Environment variables a script sets
before ``import mlflow`` behave as by hand because MLflow reads them when called, not when imported (tested
in tests/test_warm.py for the ones the hands-on uses).

Standard library only: it runs under the learner's interpreter before anything of the grader is importable.
"""

import builtins
import importlib
import os
import sys
import traceback
import types

GO = "go"


def _quietly_import(names):
    """Import ``names`` with the script's folder off ``sys.path`` and the output thrown away: an import that
    fails (or warns) now is the script's own business later."""
    saved_path = list(sys.path)
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd())]
    out, err = os.dup(1), os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        for name in names:
            try:
                importlib.import_module(name)
            except BaseException:  # noqa: BLE001 - whatever a module does at import, the script meets it itself
                pass
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (out, err, null):
            os.close(fd)
        sys.path[:] = saved_path


def _local_names(folder):
    """Top-level names ``import`` would find in ``folder`` first: modules, packages, namespace folders."""
    names = set()
    try:
        entries = os.listdir(folder)
    except OSError:
        return names
    for entry in entries:
        base, ext = os.path.splitext(entry)
        if ext in (".py", ".pyc", ".pyw", ".so"):  # an extension module: name.cpython-311-….so
            names.add(base.split(".", 1)[0])
        elif os.path.isdir(os.path.join(folder, entry)):
            names.add(entry)
    return names


def _shadowed(folder):
    loaded = {name.split(".", 1)[0] for name in list(sys.modules)}
    return sorted(loaded & _local_names(folder))


def _run(script):
    path = os.path.abspath(script)
    folder = os.path.dirname(path)
    sys.argv[:] = [script]
    sys.path[0:1] = [folder]
    from importlib.machinery import SourceFileLoader

    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__cached__ = None
    main.__builtins__ = builtins
    main.__loader__ = SourceFileLoader("__main__", path)
    main.__spec__ = None
    main.__package__ = None
    sys.modules["__main__"] = main
    with open(path, "rb") as f:
        source = f.read()
    try:
        code = compile(source, path, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:  # noqa: BLE001 - told as Python tells an uncaught exception
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        e.__traceback__ = tb  # the hook prints the exception's own traceback
        if isinstance(e, SyntaxError) and tb is None:  # the source did not compile: no traceback header
            traceback.print_exception(type(e), e, None)
        else:
            sys.excepthook(type(e), e, tb)
        if isinstance(e, KeyboardInterrupt):  # Python ends by SIGINT then
            import signal

            sys.stderr.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        # Exit 1 through SystemExit: threads are joined and atexit handlers run (MLflow's among them), as
        # after an uncaught exception.
        sys.exit(1)


def main():
    modules, script = sys.argv[1], sys.argv[2]
    folder = os.path.dirname(os.path.abspath(script))
    # Names the script's folder holds are never imported early: the script must get its own.
    local = _local_names(folder)
    wanted = [m for m in modules.split(",") if m and m.split(".", 1)[0] not in local]
    _quietly_import(wanted)
    line = sys.stdin.readline()
    # From here stdin is what DEVNULL gives a cold script: end of file.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if line.strip() != GO:
        os._exit(0)
    if _shadowed(folder):  # something imported while warming is a name the script's folder holds
        os.execv(sys.executable, [sys.executable, script])
    del sys.argv[1:]
    _run(script)


if __name__ == "__main__":
    main()
