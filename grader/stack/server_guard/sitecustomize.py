"""Imported by every Python process of a grader-started MLflow server: this folder (a copy of it in the
stack's own folder) is the server's PYTHONPATH. Python imports ``sitecustomize`` at start-up, before MLflow,
so the password hashing that MLflow's auth store binds at import is already the fast keyed one.
Nothing happens in a process without ``HANDSON_HASH_KEY`` (the grader's own interpreters never see it)."""

import os

if os.environ.get("HANDSON_HASH_KEY"):
    import handson_guard

    handson_guard.install_fast_hash(os.environ["HANDSON_HASH_KEY"])
