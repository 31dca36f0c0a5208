"""Step 3 — text, JSON and binary artifacts, stored as objects in the artifact bucket."""

import hashlib

from grader.checking import expect
from grader.plugin import check

RUN = "SampleB"


@check("step3.run")
def test_run(step):
    step.expect_finished(step.run_named(RUN))


@check("step3.text")
def test_text(step):
    run = step.run_named(RUN)
    text = step.artifact(run, "file1.txt").decode("utf-8", "replace")
    expect(text == "Hello world", "artifact.text", path="file1.txt", expected="Hello world", found=text[:200])


@check("step3.json")
def test_json(step):
    run = step.run_named(RUN)
    wanted = {"var1": 1.0, "var2": "fugafuga"}
    found = step.json_artifact(run, "file2.json")
    ok = found == wanted and all(type(found[k]) is type(v) for k, v in wanted.items())
    expect(ok, "artifact.json", path="file2.json", expected=wanted, found=found)


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
