"""Practice drills: small tasks beyond the five steps, with fresh values on every attempt.

A drill is one module in ``grader/practice/drills/`` declaring data: its ``ID``, ``TITLE`` and ``TASK``
(English and Japanese), ``values(rng)`` (everything the learner types, drawn from a seeded
``random.Random``), the ``STUB`` with TODOs, the reference ``SOLUTION``, its ``CHECKS`` and two
``FAULTS`` (small edits of the solution that must fail exactly one check; the suite's own tests use them).
A fault may name, third, the checks that fail with it by design (``("resumed", edits, ("metric",))``):
a drill's checks are all about the run its task names, so a script that never touched that run fails
every one of them.
Texts are ``string.Template`` strings: ``$name`` is a value — as Python source (``repr``) in code, as
plain text in the task, titles and hints. ``grader export`` drops ``SOLUTION`` and ``FAULTS``.

Adding a drill is adding one module there; nothing else names it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import pkgutil
import random
import string
from typing import Callable

from grader.i18n import get_lang


@dataclasses.dataclass(frozen=True)
class Check:
    """One fact a drill's checks state. ``run(attempt, values)`` raises CheckFailed when it does not hold."""

    name: str
    title_text: dict
    hint_text: dict
    run: Callable
    points: float = 1.0
    hidden: bool = False
    drill: str = ""
    values: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def id(self) -> str:
        return f"{self.drill}.{self.name}"

    @property
    def step(self) -> str:
        return self.drill

    def title(self) -> str:
        return text(self.title_text[get_lang()], self.values)

    def hint(self) -> str:
        return text(self.hint_text[get_lang()], self.values)


class Listed(list):
    """Names a text lists in prose (`a`, `b` in English, `a`、`b` in Japanese); still a list in code."""


class Plain(list):
    """Values a title lists in prose, unquoted (40, 65 in English, 40、65 in Japanese): a title is read as a
    sentence, where a Python list ([40, 65]) does not belong; still a list in code."""


def text(template: str, values: dict, lang: str | None = None) -> str:
    """A task/title/hint template with the values as plain text."""
    lang = lang or get_lang()
    return string.Template(template).safe_substitute({k: _plain(v, lang) for k, v in values.items()})


def code(template: str, values: dict) -> str:
    """A script template with the values as Python literals."""
    return string.Template(template).substitute({k: repr(v) for k, v in values.items()})


def _plain(value, lang: str = "en") -> str:
    if isinstance(value, Listed):
        return ("、" if lang == "ja" else ", ").join(f"`{item}`" for item in value)
    if isinstance(value, Plain):
        return ("、" if lang == "ja" else ", ").join(str(item) for item in value)
    return value if isinstance(value, str) else repr(value)


@dataclasses.dataclass(frozen=True)
class Drill:
    module: object

    @property
    def id(self) -> str:
        return self.module.ID

    def title(self, lang: str | None = None) -> str:
        return self.module.TITLE[lang or get_lang()]

    def values(self, seed: int) -> dict:
        return self.module.values(random.Random(f"{self.id}:{seed}"))

    def checks(self, seed: int | None = None) -> list[Check]:
        values = self.values(seed) if seed is not None else {}
        return [dataclasses.replace(c, drill=self.id, values=values) for c in self.module.CHECKS]

    def task(self, seed: int, lang: str | None = None) -> str:
        return text(self.module.TASK[lang or get_lang()], self.values(seed), lang)

    def stub(self, seed: int) -> str:
        return code(self.module.STUB, self.values(seed))

    @property
    def has_solution(self) -> bool:
        return hasattr(self.module, "SOLUTION")

    def solution(self, seed: int) -> str:
        return code(self.module.SOLUTION, self.values(seed))

    def fault_checks(self) -> dict[str, set[str]]:
        """check a fault is named after -> every check that fault must fail (itself and its third item)."""
        return {fault[0]: {fault[0], *(fault[2] if len(fault) > 2 else ())} for fault in self.module.FAULTS}

    def faults(self, seed: int) -> list[tuple[str, str]]:
        """(check name, faulty script): each must fail exactly that check."""
        values = self.values(seed)
        solution = self.solution(seed)
        out = []
        for check_name, edits, *_ in self.module.FAULTS:
            script = solution
            for old, new in edits:
                old, new = code(old, values), code(new, values)
                if old not in script:
                    raise ValueError(f"{self.id}: fault for {check_name}: {old!r} is not in the solution")
                script = script.replace(old, new)
            out.append((check_name, script))
        return out


@functools.lru_cache(maxsize=None)
def all_drills() -> dict[str, Drill]:
    """Every drill module in grader/practice/drills/, by id."""
    package = importlib.import_module(f"{__name__}.drills")
    found = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found[module.ID] = Drill(module)
    return found


def get(drill_id: str) -> Drill | None:
    return all_drills().get(drill_id)
