"""``python -m grader stack info | sql | ls``: look inside the recorded stack without Docker.

The local and embedded stacks get random credentials, so a learner cannot log in with the hands-on's
``docker compose exec mysql …``. These commands use the grader's own read-only accounts from the
recorded ``StackInfo`` instead: the SELECT-only database account (a read-only SQLite handle on
``embedded``) and the read-only MinIO key (the artifact folder on ``embedded``).
"""

from __future__ import annotations

import re
import shlex
import shutil
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path

from grader.i18n import t
from grader.stack.base import StackInfo


class PeekError(Exception):
    """A failure to report as one clear message (exit 1), never as a traceback."""


# -- which stack -----------------------------------------------------------------------------------
def find_stack() -> StackInfo:
    """The recorded stack (stack file or HANDSON_* variables) if it answers, else a healthy hand-started
    compose stack; PeekError when there is neither."""
    from grader.stack import external

    recorded = external.recorded_stack()
    if recorded is not None and external.healthy(recorded):
        return recorded
    compose = external.compose_stack()
    if compose is not None:
        return compose
    if recorded is not None:
        raise PeekError(t("peek.stale", uri=recorded.tracking_uri, path=external.stack_file()))
    raise PeekError(t("peek.no_stack"))


# -- text layout -----------------------------------------------------------------------------------
def width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int, right: bool = False) -> str:
    fill = " " * max(0, columns - width(text))
    return fill + text if right else text + fill


def cell(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, (bytes, bytearray, memoryview)):
        value = bytes(value).decode("utf-8", "replace")
    return str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")


def table(headers: list[str], rows: list[tuple]) -> str:
    """A plain aligned text table: headers, a rule, the rows (numbers right-aligned)."""
    texts = [[cell(v) for v in row] for row in rows]
    numeric = []
    for i in range(len(headers)):
        values = [row[i] for row in rows if row[i] is not None]
        numeric.append(bool(values) and all(isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)
                                            for v in values))
    widths = [max([width(h)] + [width(r[i]) for r in texts]) for i, h in enumerate(headers)]
    lines = ["  ".join(pad(h, widths[i], numeric[i]) for i, h in enumerate(headers)).rstrip(),
             "  ".join("-" * w for w in widths)]
    for row in texts:
        lines.append("  ".join(pad(v, widths[i], numeric[i]) for i, v in enumerate(row)).rstrip())
    return "\n".join(lines)


def _labelled(pairs: list[tuple[str, str]]) -> str:
    columns = max(width(label) for label, _ in pairs)
    return "\n".join(f"{pad(label + ':', columns + 1)}  {value}" for label, value in pairs)


# -- stack info ------------------------------------------------------------------------------------
def sqlite_path(url: str) -> str | None:
    """The file behind ``sqlite:///file:/x/mlflow.db?mode=ro&uri=true`` (or ``sqlite:////x/mlflow.db``)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return path[len("file:"):] if path.startswith("file:") else path


def info_text(info: StackInfo) -> str:
    pairs = [(t("peek.label.backend"), info.backend),
             (t("peek.label.ui"), info.tracking_uri),
             (t("peek.label.db"), info.db_url)]
    if info.bucket:
        key_label = t("peek.label.s3_key_ro") if info.backend == "local" else t("peek.label.s3_key")
        pairs += [(t("peek.label.s3"), f"http://{info.s3_endpoint}" if "://" not in (info.s3_endpoint or "")
                   else info.s3_endpoint),
                  (t("peek.label.bucket"), info.bucket),
                  (key_label, f"{info.s3_access_key} / {info.s3_secret_key}")]
    if info.artifact_dir:
        pairs.append((t("peek.label.artifact_dir"), info.artifact_dir))
    lines = [_labelled(pairs), "", t("peek.try")]
    client = _client_command(info.db_url)
    if client:
        lines += ["", t("peek.client"), "  " + client]
    return "\n".join(lines)


def _client_command(db_url: str) -> str | None:
    """How to open the same read-only account with a command-line client, if one is installed."""
    path = sqlite_path(db_url)
    if path is not None:
        return f"sqlite3 -readonly {shlex.quote(path)}" if shutil.which("sqlite3") else None
    program = next((name for name in ("mysql", "mariadb") if shutil.which(name)), None)
    if program is None or not db_url.startswith("mysql"):
        return None
    import sqlalchemy as sa

    url = sa.engine.make_url(db_url)
    parts = [program, "-h", url.host or "127.0.0.1", "-P", str(url.port or 3306), "-u", url.username or ""]
    return " ".join(shlex.quote(p) for p in parts) + " " + shlex.quote(f"-p{url.password or ''}") + \
        " " + shlex.quote(url.database or "mlflow")


# -- SQL -------------------------------------------------------------------------------------------
_SHOW_TABLES = re.compile(r"^\s*show\s+tables\s*;?\s*$", re.IGNORECASE)
# Statements that change something: when one fails, say why (the grader's account only reads).
_WRITES = ("insert", "update", "delete", "replace", "create", "drop", "alter", "truncate", "rename", "grant",
           "revoke", "set", "lock", "load", "call", "attach", "detach", "vacuum", "reindex")


def translate(sql: str, db_url: str) -> str:
    """MySQL's ``SHOW TABLES`` on SQLite (the embedded stack), so the guide's command works everywhere."""
    if db_url.startswith("sqlite") and _SHOW_TABLES.match(sql):
        return ("SELECT name AS Tables_in_mlflow FROM sqlite_master "
                "WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    return sql


class SQLSession:
    """One read-only connection; ``run(sql)`` returns the text to print or raises PeekError."""

    def __init__(self, db_url: str):
        import sqlalchemy as sa

        from grader.store import connect_args

        self.db_url = db_url
        self.engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool, connect_args=connect_args(db_url))
        self.conn = None

    def close(self) -> None:
        self._reset()
        self.engine.dispose()

    def run(self, sql: str) -> str:
        import sqlalchemy as sa

        statement = translate(sql.strip(), self.db_url)
        try:
            if self.conn is None:
                self.conn = self.engine.connect()
            # no_parameters: the text goes to the driver as typed ('%' and ':x' are not placeholders)
            result = self.conn.execution_options(no_parameters=True).exec_driver_sql(statement)
            if result.returns_rows:
                headers = list(result.keys())
                rows = [tuple(r) for r in result.fetchall()]
                text = table(headers, rows) + "\n" + t("peek.row" if len(rows) == 1 else "peek.rows",
                                                       count=len(rows))
            else:
                count = result.rowcount
                text = t("peek.done", count=count) if count is not None and count >= 0 else "OK"
            self.conn.rollback()  # read-only: nothing to keep, and no transaction left open
            return text
        except sa.exc.DBAPIError as e:
            self._reset()
            raise PeekError(self._explain(sql, e.orig)) from None
        except sa.exc.SQLAlchemyError as e:
            self._reset()
            raise PeekError(t("peek.sql_error", error=str(e).splitlines()[0])) from None

    def _reset(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # a broken connection cannot be closed cleanly; drop it
                pass
            self.conn = None

    @staticmethod
    def _explain(sql: str, orig) -> str:
        args = getattr(orig, "args", ())
        if len(args) >= 2 and isinstance(args[0], int):
            error = f"ERROR {args[0]}: {args[1]}"  # pymysql: (code, message), as the mysql client shows it
        else:
            error = str(orig) or type(orig).__name__
        text = t("peek.sql_error", error=error)
        words = sql.strip().split(None, 1)
        if words and words[0].lower().rstrip(";") in _WRITES:
            text += "\n" + t("peek.read_only")
        return text


def run_sql(info: StackInfo, sql: str | None) -> int:
    session = SQLSession(info.db_url)
    try:
        if sql is not None and sql.strip():
            try:
                print(session.run(sql))
                return 0
            except PeekError as e:
                print(e, file=sys.stderr)
                return 1
        return _prompt(session)
    finally:
        session.close()


def _prompt(session: SQLSession) -> int:
    interactive = sys.stdin.isatty()
    if interactive:
        print(t("peek.prompt_intro"))
    while True:
        try:
            line = input("sql> " if interactive else "")
        except EOFError:
            if interactive:
                print()
            return 0
        except KeyboardInterrupt:
            print()
            return 0
        statement = line.strip()
        if not statement:
            continue
        if statement.rstrip(";").strip().lower() in ("exit", "quit", r"\q"):
            return 0
        try:
            print(session.run(statement))
        except PeekError as e:
            print(e, file=sys.stderr)
        sys.stdout.flush()


# -- objects ---------------------------------------------------------------------------------------
def normalise_prefix(prefix: str, bucket: str | None) -> str:
    """Accept a key prefix, an ``mlflow-artifacts:/…`` URI (as in ``runs.artifact_uri``) or ``s3://bucket/…``."""
    prefix = prefix.strip()
    if prefix.startswith("mlflow-artifacts:"):
        return prefix[len("mlflow-artifacts:"):].lstrip("/")
    if bucket and prefix.startswith(f"s3://{bucket}"):
        return prefix[len(f"s3://{bucket}"):].lstrip("/")
    return prefix.lstrip("/")


def list_objects(info: StackInfo, prefix: str) -> list[tuple[str, int]]:
    """(key, size) of every object whose key starts with ``prefix``, sorted by key."""
    if info.bucket:
        from minio.error import S3Error

        from grader.store import ObjectStore

        store = ObjectStore(info)
        try:
            found = [(o.object_name, o.size or 0)
                     for o in store.client.list_objects(info.bucket, prefix=prefix, recursive=True)]
        except S3Error as e:
            raise PeekError(t("peek.s3_error", store=store.label, error=f"{e.code}: {e.message}")) from None
        except Exception as e:  # connection refused, timeouts (urllib3 wraps them in several types)
            raise PeekError(t("peek.s3_error", store=store.label, error=str(e).splitlines()[0])) from None
        return sorted(found)
    root = Path(info.artifact_dir or "")
    if not root.is_dir():
        raise PeekError(t("peek.s3_error", store=str(root), error=t("peek.not_a_folder")))
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            key = path.relative_to(root).as_posix()
            if key.startswith(prefix):
                found.append((key, path.stat().st_size))
    return sorted(found)


def run_ls(info: StackInfo, prefix: str) -> int:
    prefix = normalise_prefix(prefix, info.bucket)
    try:
        objects = list_objects(info, prefix)
    except PeekError as e:
        print(e, file=sys.stderr)
        return 1
    if info.bucket:
        where = f"s3://{info.bucket}/{prefix} ({info.s3_endpoint})"
    else:
        where = str(Path(info.artifact_dir or "") / prefix) if prefix else str(info.artifact_dir)
    if not objects:
        print(t("peek.ls_empty", where=where))
        return 0
    columns = max(width(key) for key, _ in objects)
    sizes = max(len(str(size)) for _, size in objects)
    for key, size in objects:
        print(f"{pad(key, columns)}  {str(size).rjust(sizes)}")
    print(t("peek.ls_one" if len(objects) == 1 else "peek.ls_count", count=len(objects), where=where))
    return 0


# -- entry point -----------------------------------------------------------------------------------
def main(action: str, args) -> int:
    try:
        info = find_stack()
    except PeekError as e:
        print(e, file=sys.stderr)
        return 1
    if action == "info":
        print(info_text(info))
        return 0
    if action == "sql":
        return run_sql(info, " ".join(args.statement) if args.statement else None)
    return run_ls(info, args.prefix or "")
