"""MLflow's tables on MySQL, migrated once per version pair and then replayed.

Creating MLflow's schema means importing MLflow and running its whole Alembic history (about a hundred
migrations): a third of a local stack's cold start. The result is always the same for one MLflow version on
one MySQL/MariaDB version, so the first stack migrates as before and records what the migration left — each
table's ``SHOW CREATE TABLE`` and its rows (the Alembic head, MLflow's Default experiment), and its
triggers — in a snapshot
in the grader's cache; later stacks create those tables and insert those rows, well under a second, with the
same migration account. Like pytest-postgresql's template databases, but logical: a copied InnoDB data
folder would carry the first stack's accounts and passwords, a snapshot carries neither.

The snapshot is keyed by the MLflow and server versions and a hash of its own content; anything it cannot
represent faithfully (a view, a stored routine, a value that is not a number, a string or NULL) means no snapshot,
and every stack migrates as before. A snapshot that fails to replay is removed and that stack migrates.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from importlib.metadata import version
from pathlib import Path

from grader.stack.base import cache_dir

# Where a value of the first stack's own folder (the Default experiment's artifact location) is put back.
FOLDER = "{stack folder}"
FORMAT = 1


def snapshot_path(server_version: str) -> Path:
    tag = re.sub(r"[^A-Za-z0-9.]+", "-", server_version).strip("-")
    return cache_dir() / f"mlflow-schema-{version('mlflow')}-{tag}.json"


def capture(conn, database: str, folder: Path) -> dict | None:
    """What MLflow's migration left in ``database``; None when a snapshot could not reproduce it."""
    with conn.cursor() as cur:
        cur.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = %s "
                    "ORDER BY table_name", (database,))
        tables = cur.fetchall()
        if not tables or any(kind != "BASE TABLE" for _, kind in tables):
            return None
        cur.execute("SELECT COUNT(*) FROM information_schema.routines WHERE routine_schema = %s", (database,))
        if cur.fetchone()[0]:
            return None
        snapshot = {"format": FORMAT, "tables": []}
        for (name,) in ((t,) for t, _ in tables):
            cur.execute(f"SHOW CREATE TABLE `{database}`.`{name}`")
            create = cur.fetchone()[1]
            cur.execute(f"SELECT * FROM `{database}`.`{name}`")
            columns = [d[0] for d in cur.description]
            rows = []
            for row in cur.fetchall():
                if not all(v is None or isinstance(v, (int, float, str)) for v in row):
                    return None
                rows.append([v.replace(str(folder), FOLDER) if isinstance(v, str) else v for v in row])
            snapshot["tables"].append({"name": name, "create": create, "columns": columns, "rows": rows})
        # Triggers (MLflow guards its secrets table with one), each with the SQL mode it was created under;
        # without its DEFINER, which then is whoever replays it: the same migration account.
        snapshot["triggers"] = []
        cur.execute(f"SHOW TRIGGERS FROM `{database}`")
        for name in [row[0] for row in cur.fetchall()]:
            cur.execute(f"SHOW CREATE TRIGGER `{database}`.`{name}`")
            row = dict(zip([d[0] for d in cur.description], cur.fetchone()))
            statement = re.sub(r"^CREATE\s+DEFINER\s*=\s*\S+\s+TRIGGER\b", "CREATE TRIGGER",
                               row["SQL Original Statement"])
            if not statement.startswith("CREATE TRIGGER"):
                return None
            snapshot["triggers"].append({"name": name, "sql_mode": row["sql_mode"], "create": statement})
    body = _body(snapshot)
    snapshot["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    return snapshot


def _body(snapshot: dict) -> str:
    return json.dumps([snapshot["tables"], snapshot["triggers"]], sort_keys=True)


def save(snapshot: dict, path: Path) -> None:
    """Write atomically: two stacks starting at once each write a whole file, the last one stays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name, dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(snapshot, f)
    os.replace(tmp, path)


def load(path: Path) -> dict | None:
    """The snapshot at ``path`` if it is whole and of this format; None otherwise."""
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        body = _body(snapshot)
        if snapshot.get("format") == FORMAT and hashlib.sha256(body.encode()).hexdigest() == snapshot["sha256"]:
            return snapshot
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def replay(conn, database: str, snapshot: dict, folder: Path) -> None:
    """Create the snapshot's tables and rows in the (empty) ``database``."""
    with conn.cursor() as cur:
        cur.execute(f"USE `{database}`")
        cur.execute("SELECT @@SESSION.sql_mode")
        mode = cur.fetchone()[0]
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        # A row's 0 is its value (MLflow's Default experiment has id 0), not "the next AUTO_INCREMENT value".
        cur.execute("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_AUTO_VALUE_ON_ZERO')")
        try:
            for table in snapshot["tables"]:
                cur.execute(table["create"])
            for table in snapshot["tables"]:
                if not table["rows"]:
                    continue
                columns = ", ".join(f"`{c}`" for c in table["columns"])
                marks = ", ".join(["%s"] * len(table["columns"]))
                rows = [[v.replace(FOLDER, str(folder)) if isinstance(v, str) else v for v in row]
                        for row in table["rows"]]
                cur.executemany(f"INSERT INTO `{table['name']}` ({columns}) VALUES ({marks})", rows)
        finally:
            cur.execute("SET FOREIGN_KEY_CHECKS = 1")
            cur.execute("SET SESSION sql_mode = %s", (mode,))
        conn.commit()
        # After the rows: the migration's own rows were written before its triggers existed too.
        for trigger in snapshot["triggers"]:
            cur.execute("SET SESSION sql_mode = %s", (trigger["sql_mode"],))
            cur.execute(trigger["create"])
        cur.execute("SET SESSION sql_mode = %s", (mode,))
