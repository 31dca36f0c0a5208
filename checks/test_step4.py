"""Step 4 — nested runs: a parent with two children, each inside the parent's lifetime."""

from grader.checking import AtStep, expect, fail
from grader.plugin import check

PARENT = "ParentRun"
CHILDREN = ("ChildRun1", "ChildRun2")


def name_of(step, run_id: str) -> str:
    """A run of the experiment by its name (what the learner typed); its id when it has none there."""
    return next((r.name for r in step.runs() if r.run_id == run_id and r.name), run_id)


def parent(step):
    run = step.run_named(PARENT)
    # Say which run is whose parent: with the `with` blocks swapped, ParentRun is nested under a child.
    if run.parent_id is not None:
        fail("run.nested_under", name=PARENT, parent=name_of(step, run.parent_id))
    return run


def children(step):
    return [step.run_named(name) for name in CHILDREN]


@check("step4.parent")
def test_parent(step):
    step.expect_finished(parent(step))


@check("step4.children")
def test_children(step):
    top = step.run_named(PARENT)
    for child in children(step):
        if child.parent_id != top.run_id:
            if top.parent_id == child.run_id:
                fail("run.parent_swapped", name=child.name, parent=PARENT)
            if child.parent_id is not None:
                fail("run.child_of", name=child.name, parent=PARENT, found=name_of(step, child.parent_id))
            fail("run.not_child", name=child.name, parent=PARENT, found=None)
        step.expect_finished(child)


@check("step4.child_data")
def test_child_data(step):
    for index, child in enumerate(children(step), start=1):
        expect(child.params.get("child_index") == str(index), "run.param", name=child.name, key="child_index",
               value=str(index), params=child.params)
        steps = [s for s, _ in child.metrics.get("score", [])]
        expect(0 in steps, "metric.step0", name=child.name, key="score", found=[AtStep(v, s) for s, v in child.metrics.get("score", [])])


@check("step4.timeline")
def test_timeline(step):
    top = step.run_named(PARENT)
    for run in (top, *children(step)):
        expect(run.end_time is not None, "timeline.not_ended", name=run.name)
    for child in children(step):
        # Say which boundary was crossed, and by how much, in milliseconds.
        expect(child.start_time >= top.start_time, "timeline.started_before", name=child.name, parent=PARENT,
               ms=top.start_time - child.start_time)
        expect(child.end_time <= top.end_time, "timeline.ended_after", name=child.name, parent=PARENT,
               ms=child.end_time - top.end_time)
