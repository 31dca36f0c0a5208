"""Step 3 — text, JSON and binary artifacts, stored as objects in the artifact bucket."""

import hashlib
import json

from grader import text as texts
from grader.checking import expect, shown
from grader.plugin import check

RUN = "SampleB"
TEXT = "Hello world"
JSON = {"var1": 1.0, "var2": "fugafuga"}


@check("step3.run")
def test_run(step):
    step.expect_finished(step.run_named(RUN))


@check("step3.text")
def test_text(step):
    run = step.run_named(RUN)
    text = step.artifact(run, "file1.txt").decode("utf-8", "replace")
    # print("Hello world", file=f) ends in a newline: still the text Hello world.
    expect(text.removesuffix("\n").removesuffix("\r") == TEXT, "artifact.text", path="file1.txt",
           expected=shown(TEXT), found=shown(text[:200]))


@check("step3.json")
def test_json(step):
    run = step.run_named(RUN)
    wanted = JSON
    found = step.json_artifact(run, "file2.json")
    if found == wanted and isinstance(found, dict):
        for key, value in wanted.items():
            # 1 == 1.0 in Python, but file2.json must hold the float the step asks for.
            expect(type(found[key]) is type(value), "artifact.json_type", path="file2.json", key=key,
                   found=found[key], found_type=type(found[key]).__name__, expected=value,
                   expected_type=type(value).__name__)
    # An empty file2.json is shown as the JSON it holds ({}, [], null), not as "nothing".
    expect(found == wanted, "artifact.json", path="file2.json", expected=wanted,
           found=found if found else texts.Formatted(json.dumps(found)))


@check("step3.binary")
def test_binary(step):
    run = step.run_named(RUN)
    data = step.artifact(run, "sample.png")
    original = (step.data_dir / "sample.png").read_bytes()
    expect(data == original, "artifact.binary", path="sample.png", size=len(data), expected_size=len(original),
           digest=hashlib.sha256(data).hexdigest()[:12])


@check("step3.in_object_store")
def test_in_object_store(step):
    run = step.run_named(RUN)
    prefix = step.artifact_prefix(run)
    listed = step.listed_artifacts(run)
    expect(listed, "store.nothing_listed", name=RUN)
    stored = {k[len(prefix) + 1:] for k in step.objects.keys(prefix)}
    missing = sorted(set(listed) - stored)
    expect(not missing, "store.missing", name=RUN, missing=missing, store=step.objects.label, prefix=prefix)
