"""Options that both the pytest plugin and ``python -m grader`` take, each defined once.

An option here has one name, one type, one set of choices, one default and one help text (a ``help.opt_*``
key of grader/messages.py, in both languages). ``add_to_pytest`` puts it in pytest's parser and
``add_to_argparse`` in an argparse (sub)parser: pytest's ``addoption`` takes argparse's keywords, so the two
registrations differ only in where the default is applied.

- pytest: the option's default is ``None``; grader/config.py then reads the ini value, the environment
  and last its own default (command line > ini > environment > default), which ``Option.default`` is.
- argparse: ``None`` where the command falls back on the environment and then on ``default`` itself (as
  ``practice grade`` does), or ``default`` stored at once (``store_default``, as ``stack up`` and ``merge``).

Either way the help shows ``default``, so ``pytest --help`` and ``python -m grader … --help`` cannot disagree
with what applies.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

from grader import config
from grader.i18n import LANGS, t_in
from grader.lms import FORMATS as GRADEBOOK_FORMATS
from grader.stack import BACKENDS, STARTABLE  # noqa: F401  (the registry's lists, read by the CLI through here)

PORTS = config.PORTS


@dataclasses.dataclass(frozen=True)
class Option:
    flag: str  # "--stack-timeout"; the destination is derived from it, by pytest and argparse alike
    help_key: str  # a help.opt_* key of grader/messages.py
    default: Any = None  # what applies when nothing gives a value (grader/config.py's); the help shows it
    type: Callable | None = None
    choices: tuple | None = None
    metavar: str | None = None
    action: str | None = None
    values: tuple = ()  # (name, value) pairs for the help text's other placeholders

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def help(self, lang: str) -> str:
        default = f"{self.default:g}" if isinstance(self.default, float) else self.default
        return t_in(lang, self.help_key, default=default, **dict(self.values))

    def keywords(self, lang: str, default: Any) -> dict:
        """The keywords of ``addoption`` / ``add_argument`` (the two take the same ones)."""
        words = {"default": default, "help": self.help(lang)}
        for name in ("type", "choices", "metavar", "action"):
            if getattr(self, name) is not None:
                words[name] = getattr(self, name)
        return words


def _port(name: str) -> Option:
    return Option(f"--{name}-port", "help.opt_port", type=int, metavar="PORT", values=(("name", name),))


SHARED: dict[str, Option] = {option.dest: option for option in (
    Option("--stack", "help.opt_stack", default=config.default("stack"), choices=BACKENDS),
    # pytest grades it; hint, progress and reset read and write it (grader/loop.py).
    Option("--submission", "help.opt_submission", default=config.default("submission"), metavar="DIR"),
    Option("--submission-timeout", "help.opt_submission_timeout", default=config.default("submission_timeout"),
           type=float, metavar="S"),
    Option("--stack-timeout", "help.opt_stack_timeout", default=config.default("stack_timeout"), type=float,
           metavar="S"),
    Option("--lang", "help.opt_lang", choices=LANGS),
    *(_port(name) for name in PORTS),
    Option("--compose-file", "help.opt_compose_file", action="append", metavar="PATH"),
    Option("--sandbox", "help.opt_sandbox", default=config.default("sandbox"), choices=config.SANDBOX_MODES),
    Option("--gradebook-format", "help.opt_gradebook_format", default=config.GRADEBOOK_FORMAT,
           choices=GRADEBOOK_FORMATS),
    Option("--roster", "help.opt_roster", metavar="PATH"),
)}


def add_to_pytest(group, *names: str) -> None:
    """Register the options ``names`` (their destinations) in a pytest option group. Help in English: pytest
    reads its options before the grader knows the language."""
    for name in names:
        option = SHARED[name]
        group.addoption(option.flag, **option.keywords("en", None))


def add_to_argparse(parser, name: str, *aliases: str, lang: str, store_default: bool = False, **overrides) -> None:
    """Register the option ``name`` in an argparse parser, in ``lang``; ``aliases`` are older spellings that
    keep working (``stack up --timeout``), ``overrides`` the few keywords a parser spells its own way
    (``dest`` where a sub-command keeps its own ``--lang``)."""
    option = SHARED[name]
    default = option.default if store_default else None
    parser.add_argument(option.flag, *aliases, **{**option.keywords(lang, default), **overrides})
