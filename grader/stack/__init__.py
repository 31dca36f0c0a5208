"""Stack backends behind one tiny interface: ``start() -> StackInfo`` and ``stop()``.

``choose(name)`` resolves ``auto`` and says why, so the pytest header can tell the learner.
"""

from __future__ import annotations

from grader.stack.base import StackError, StackInfo

BACKENDS = ("auto", "docker", "local", "embedded", "external")


def make_backend(name: str, **options):
    if name == "local":
        from grader.stack.local import LocalStack

        return LocalStack(**options)
    if name == "embedded":
        from grader.stack.embedded import EmbeddedStack

        return EmbeddedStack(**options)
    if name == "external":
        from grader.stack.external import ExternalStack

        return ExternalStack(**options)
    if name == "docker":
        from grader.stack.docker import DockerStack

        return DockerStack(**options)
    raise ValueError(f"unknown stack backend {name!r}; choose one of {', '.join(BACKENDS)}")


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


__all__ = ["BACKENDS", "StackError", "StackInfo", "choose", "make_backend"]
