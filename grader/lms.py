"""Gradebooks an LMS imports: ``--gradebook-format canvas|moodle`` with ``--roster PATH``.

The grader knows learners by submission folder; an LMS knows them by its own identities. The roster is a CSV
that maps one to the other: a ``folder`` column (the submission folder's name, or the learner id) and the
LMS's columns. The LMS's own export works as a roster once a ``folder`` column is added to it.

Where the formats come from (their documented headers; no code was copied):

- Canvas: the Gradebook's CSV export, which its import reads back — header ``Student, ID, SIS User ID,
  SIS Login ID, Section``, then one column per assignment, and a second row whose Student cell is
  ``Points Possible`` (Canvas writes it indented by four spaces) holding each assignment's points. Instructure
  Community guides "How do I export grades in the Gradebook?" / "How do I import grades in the Gradebook?";
  Ohio State's CarmenCanvas guide "Import a CSV file to Carmen Grades" lists the same columns (a student is
  matched by name, ID or SIS User ID). An assignment column named "Name (id)" updates that existing
  assignment; a new name creates one.
- Moodle: grade import from CSV (MoodleDocs "Grade import"): any header row; at import, one column is mapped
  to users ("Map from" a column, "Map to" userid / username / useridnumber / useremail) and each other
  column to a grade item (or a new one). The column labels are those of Moodle's own grade export:
  ``Email address``, ``ID number``, ``Username``.

Learners missing from the roster cannot be matched by an LMS: they are left out of the LMS file and listed
(terminal, and a warning line), with their points, never dropped silently; roster entries that match no
graded folder are listed too.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from grader.i18n import t

FORMATS = ("csv", "canvas", "moodle")
# The one assignment / grade item column: the hands-on's total points.
ASSIGNMENT = "MLflow hands-on"

CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_POSSIBLE = "    Points Possible"
# What Canvas can match a row to a student on (Section alone names no one).
CANVAS_MATCHED_ON = CANVAS_IDENTITY[:4]
# Moodle's labels for the user fields a grade import can match on, in the order one is chosen from a roster.
MOODLE_IDENTIFIERS = ("Email address", "ID number", "Username")

# roster header (case and surrounding spaces ignored) -> the field it fills
_ALIASES = {
    "folder": "folder", "learner": "folder",
    "student": "Student", "name": "Student",
    "id": "ID", "canvas id": "ID", "canvas_id": "ID",
    "sis user id": "SIS User ID", "sis_user_id": "SIS User ID",
    "sis login id": "SIS Login ID", "sis_login_id": "SIS Login ID",
    "section": "Section",
    "email address": "Email address", "email": "Email address",
    "id number": "ID number", "idnumber": "ID number",
    "username": "Username",
}


class RosterError(ValueError):
    """A roster that cannot be used; the message is in the reader's language."""


@dataclasses.dataclass
class Roster:
    path: Path
    fields: tuple[str, ...]  # the identity fields the roster has (canonical names)
    entries: list[dict]  # one per roster row: canonical field -> value

    def label(self, entry: dict) -> str:
        """How a roster entry is named in a message: its first identity that is filled in."""
        for field in ("Student", *MOODLE_IDENTIFIERS, "SIS User ID", "SIS Login ID", "ID", "folder"):
            if entry.get(field):
                return entry[field]
        return "?"


def read_roster(path: Path) -> Roster:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as e:
        raise RosterError(t("roster.unreadable", path=str(path), error=str(e))) from None
    if not rows:
        raise RosterError(t("roster.no_folder_column", path=str(path)))
    header = [_ALIASES.get(h.strip().lower()) for h in rows[0]]
    if "folder" not in header:
        raise RosterError(t("roster.no_folder_column", path=str(path)))
    entries = []
    for row in rows[1:]:
        entry = {}
        for field, value in zip(header, row):
            if field and field not in entry:
                # A folder name is matched exactly (folders may start or end with a space); identities trimmed.
                entry[field] = value if field == "folder" else value.strip()
        # Canvas's own export as a roster: its "Points Possible" row is not a student.
        if entry.get("Student") == CANVAS_POINTS_POSSIBLE.strip() or not any(entry.values()):
            continue
        entries.append(entry)
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.get("folder"):
            seen[entry["folder"]] = seen.get(entry["folder"], 0) + 1
    twice = sorted(name for name, count in seen.items() if count > 1)
    if twice:
        raise RosterError(t("roster.duplicate", path=str(path), names=t("value.sep").join(twice)))
    return Roster(path, tuple(f for f in dict.fromkeys(header) if f and f != "folder"), entries)


@dataclasses.dataclass
class Matched:
    """What a roster made of a gradebook: rows with their entry, learners it lacks, entries without a folder."""
    rows: list[tuple[dict, dict]]  # (gradebook row, roster entry)
    missing: list[dict]  # gradebook rows of learners not in the roster
    orphans: list[dict]  # roster entries whose folder was not graded
    # gradebook rows whose roster entry has none of the identities the LMS matches on
    unidentified: list[dict] = dataclasses.field(default_factory=list)


def match(rows: list[dict], roster: Roster | None) -> Matched:
    if roster is None:
        # No roster: the learner id stands for the LMS identity (Canvas's Student, Moodle's Username).
        return Matched([(row, {"Student": row["learner"], "Username": row["learner"]}) for row in rows], [], [])
    by_folder = {e["folder"]: e for e in roster.entries if e.get("folder")}
    used, matched, missing = set(), [], []
    for row in rows:
        key = next((k for k in (row.get("folder"), row["learner"]) if k in by_folder), None)
        if key is None:
            missing.append(row)
        else:
            used.add(key)
            matched.append((row, by_folder[key]))
    orphans = [e for e in roster.entries if e.get("folder") not in used]
    return Matched(matched, missing, orphans)


def _points_possible(rows: list[dict]) -> str:
    from grader import catalog, report

    tops = [float(r["max"]) for r in rows if r.get("max")]
    return report.num(max(tops) if tops else catalog.max_points())


def moodle_identifier(roster: Roster | None) -> str:
    if roster is None:
        return "Username"
    for field in MOODLE_IDENTIFIERS:
        if field in roster.fields:
            return field
    raise RosterError(t("roster.no_moodle_identifier", path=str(roster.path),
                        columns=t("value.sep").join(MOODLE_IDENTIFIERS)))


def write(path: Path, rows: list[dict], fmt: str, roster: Roster | None) -> Matched:
    """Write ``rows`` (gradebook rows, report.gradebook_rows) as the LMS ``fmt`` imports them."""
    matched = match(sorted(rows, key=lambda r: r["learner"]), roster)
    identifier = moodle_identifier(roster) if fmt == "moodle" else None
    identities = (identifier,) if fmt == "moodle" else CANVAS_MATCHED_ON
    matched.unidentified = [row for row, entry in matched.rows if not any(entry.get(f) for f in identities)]
    matched.rows = [(row, entry) for row, entry in matched.rows if any(entry.get(f) for f in identities)]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if fmt == "canvas":
            writer.writerow([*CANVAS_IDENTITY, ASSIGNMENT])
            writer.writerow([CANVAS_POINTS_POSSIBLE, *[""] * (len(CANVAS_IDENTITY) - 1), _points_possible(rows)])
            for row, entry in matched.rows:
                # Identities exactly as the LMS has them (the roster is the instructor's): no cell is rewritten.
                writer.writerow([entry.get(field, "") for field in CANVAS_IDENTITY] + [row["total"]])
        elif fmt == "moodle":
            writer.writerow([identifier, ASSIGNMENT])
            for row, entry in matched.rows:
                writer.writerow([entry.get(identifier, ""), row["total"]])
        else:
            raise ValueError(f"unknown gradebook format {fmt!r}")
    return matched


def problem_lines(matched: Matched, roster: Roster | None, fmt: str) -> list[str]:
    """The warning lines (and one line per learner or entry) for what the roster did not match."""
    from grader import report

    if roster is None:
        return []
    lines = []
    if matched.missing:
        names = [report.learner_label(r["learner"], r.get("folder")) for r in matched.missing]
        lines.append(t("roster.missing", count=len(names), path=str(roster.path), format=fmt,
                       names=t("value.sep").join(names)))
        lines += ["  " + t("summary.learner", learner=name, score=r["total"], max=r["max"])
                  for name, r in zip(names, matched.missing)]
    if matched.unidentified:
        names = [report.learner_label(r["learner"], r.get("folder")) for r in matched.unidentified]
        columns = (moodle_identifier(roster),) if fmt == "moodle" else CANVAS_MATCHED_ON
        lines.append(t("roster.no_identity", count=len(names), path=str(roster.path), format=fmt,
                       columns=t("value.sep").join(columns), names=t("value.sep").join(names)))
        lines += ["  " + t("summary.learner", learner=name, score=r["total"], max=r["max"])
                  for name, r in zip(names, matched.unidentified)]
    if matched.orphans:
        labels = [t("learner.folder", learner=roster.label(e), folder=e["folder"])
                  if e.get("folder") and roster.label(e) != e["folder"] else roster.label(e) for e in matched.orphans]
        lines.append(t("roster.orphans", count=len(labels), path=str(roster.path),
                       names=t("value.sep").join(labels)))
    return lines
