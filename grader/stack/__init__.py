"""Stack backends behind one interface (``StackBackend``: ``start() -> StackInfo`` and ``stop()``), registered
here and nowhere else.

``REGISTRY`` maps each backend's name to where its class lives; the module is imported only when that backend
is built, so ``--help`` and ``--stack embedded`` never import Docker's or MariaDB's code. Every list of
backend names (``--stack`` choices, ``python -m grader stack up --backend`` choices, messages that name them)
is read from it: a new backend is its own module plus one line below.

``choose(name)`` resolves ``auto`` and says why, so the pytest header can tell the learner.
"""

from __future__ import annotations

import dataclasses
import importlib

from grader.stack.base import StackBackend, StackError, StackInfo


@dataclasses.dataclass(frozen=True)
class Registered:
    """One backend: its class as ``module:attribute`` (imported on first use), and whether it starts services
    of its own (``python -m grader stack up`` can run it) or only finds a stack someone else runs."""

    target: str
    starts: bool = True

    def load(self) -> type[StackBackend]:
        module, _, attribute = self.target.partition(":")
        return getattr(importlib.import_module(module), attribute)


REGISTRY: dict[str, Registered] = {
    "docker": Registered("grader.stack.docker:DockerStack"),
    "local": Registered("grader.stack.local:LocalStack"),
    "embedded": Registered("grader.stack.embedded:EmbeddedStack"),
    "external": Registered("grader.stack.external:ExternalStack", starts=False),
}

# What --stack accepts: every registered backend, and ``auto``, which picks one of them (choose()).
BACKENDS = ("auto", *REGISTRY)
# What ``python -m grader stack up --backend`` accepts: the backends that start a stack of their own.
STARTABLE = tuple(name for name, entry in REGISTRY.items() if entry.starts)


def make_backend(name: str, **options) -> StackBackend:
    """The backend registered as ``name``, built with ``options`` (see ``StackBackend``); starts nothing."""
    entry = REGISTRY.get(name)
    if entry is None:
        raise ValueError(f"unknown stack backend {name!r}; choose one of {', '.join(REGISTRY)}")
    return entry.load()(**options)


def choose(name: str, compose_files=()) -> tuple[str, str]:
    """(backend, reason). ``auto``: a recorded healthy stack, else Docker when it can get the compose files'
    images (on this machine or pullable), else local, else embedded."""
    from grader.i18n import t

    if name != "auto":
        return name, t("auto.asked")
    from grader.stack import docker, external, local

    info = external.recorded_stack()
    if info is not None and external.healthy(info):
        return "external", t("auto.external", uri=info.tracking_uri)
    if info is None and external.compose_stack() is not None:
        return "external", t("auto.compose", uri="http://127.0.0.1:5000")
    images, hint = None, ""
    if docker.engine_answers():
        images = docker.images_problem(compose_files)
        if images is None:
            return "docker", t("auto.docker")
        if not compose_files and docker.images_problem([docker.COMPOSE_FILE, docker.OFFLINE_FILE]) is None:
            hint = t("auto.offline_hint")
    missing = local.missing_programs()
    if not missing:
        return "local", (t("auto.local_images", images=images) + hint) if images else t("auto.local")
    missing = local.missing_text(missing)
    if images:
        return "embedded", t("auto.embedded_images", images=images, missing=missing) + hint
    return "embedded", t("auto.embedded", missing=missing)


__all__ = ["BACKENDS", "REGISTRY", "STARTABLE", "Registered", "StackBackend", "StackError", "StackInfo", "choose",
           "make_backend"]
