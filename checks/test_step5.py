"""Step 5 (capstone, 総合課題) — a hyper-parameter sweep as nested runs, and the best model registered."""

import math

from grader.checking import expect, fail
from grader.plugin import check

ALPHAS = (0.001, 0.01, 0.1)
EPOCHS = 10


def sweep(step):
    return step.run_named("sweep")


def children(step):
    top = sweep(step)
    kids = [r for r in step.runs() if r.parent_id == top.run_id and r.lifecycle_stage == "active"]
    expect(len(kids) == len(ALPHAS), "sweep.children", count=len(kids), expected=len(ALPHAS))
    return kids


def val_rmse(run):
    found = run.latest.get("val_rmse")
    return found[0] if found else None


def best_child(step):
    kids = children(step)
    scored = [k for k in kids if val_rmse(k) is not None and not math.isnan(val_rmse(k))]
    expect(len(scored) == len(kids), "sweep.no_val", names=[k.name for k in kids if k not in scored])
    return min(scored, key=val_rmse)


@check("step5.sweep")
def test_sweep(step):
    kids = children(step)
    found = []
    for kid in kids:
        try:
            found.append(float(kid.params.get("alpha", "nan")))
        except ValueError:
            found.append(kid.params.get("alpha"))
    ok = sorted((a for a in found if isinstance(a, float) and not math.isnan(a))) == list(ALPHAS)
    expect(ok, "sweep.alphas", expected=list(ALPHAS), found=[k.params.get("alpha") for k in kids])
    # The guide names each child after its own alpha, as f"alpha={alpha}" writes it: 'alpha=0.001'.
    wanted = {kid.run_id: f"alpha={float(kid.params['alpha'])}" for kid in kids}
    expect(all(kid.name == wanted[kid.run_id] for kid in kids), "sweep.names",
           expected=[wanted[k.run_id] for k in kids], found=[k.name for k in kids])
    # Nested means nested, as in step4.timeline: each child starts and ends while the sweep runs
    # (start_run(parent_run_id=...) after the sweep's block closed only links them by a tag).
    top = sweep(step)
    for run in (top, *kids):
        expect(run.end_time is not None, "timeline.not_ended", name=run.name)
    for kid in sorted(kids, key=lambda k: k.start_time or 0):
        expect(kid.start_time >= top.start_time, "timeline.started_before", name=kid.name, parent=top.name,
               ms=top.start_time - kid.start_time)
        expect(kid.end_time <= top.end_time, "timeline.ended_after", name=kid.name, parent=top.name,
               ms=kid.end_time - top.end_time)


@check("step5.curves")
def test_curves(step):
    for kid in children(step):
        steps = sorted(s for s, _ in kid.metrics.get("train_rmse", []))
        expect(steps == list(range(EPOCHS)), "sweep.curve", name=kid.name, key="train_rmse",
               last=EPOCHS - 1, found=steps)
        expect(kid.metrics.get("val_rmse"), "sweep.val_missing", name=kid.name)


@check("step5.best")
def test_best(step):
    kids = children(step)
    tagged = [k for k in kids if k.tags.get("best") == "true"]
    if len(tagged) != 1:
        # What was found, per child, as Python writes it: a bool logged as a tag arrives as 'True'.
        fail("best.count", count=len(tagged), found={repr(k.name): k.tags.get("best") for k in kids})
    best = best_child(step)
    expect(tagged[0].run_id == best.run_id, "best.wrong", tagged=tagged[0].name, tagged_val=val_rmse(tagged[0]),
           best=best.name, best_val=val_rmse(best))


def version_one(step):
    versions = step.model_versions()
    first = [v for v in versions if v.version == 1]
    if not first:
        # One sentence for what was found: the model with other versions, no model, or models under other names.
        if step.db.registered_model_exists(step.model_name):
            if not versions:
                fail("registry.no_versions", name=step.model_name)
            fail("registry.no_version_one", name=step.model_name, versions=[v.version for v in versions])
        others = step.other_models()
        fail("registry.other_names" if others else "registry.missing", name=step.model_name, others=others)
    return first[0]


@check("step5.registered")
def test_registered(step):
    version = version_one(step)
    best = best_child(step)
    by_id = {r.run_id: r for r in step.runs()}
    found = by_id[version.run_id].name if version.run_id in by_id else version.run_id
    expect(version.run_id == best.run_id, "registry.wrong_run", name=step.model_name, best=best.name, found=found)


@check("step5.model_files")
def test_model_files(step):
    version = version_one(step)
    prefix = step.db.location_key(version.storage_location or version.source)
    expect(prefix is not None, "registry.not_proxied", location=version.storage_location)
    files = [k[len(prefix) + 1:] for k in step.objects.keys(prefix)]
    has_mlmodel = "MLmodel" in files
    has_pickle = any(f.endswith((".pkl", ".pickle", ".skops")) for f in files)
    expect(has_mlmodel and has_pickle, "registry.files", store=step.objects.label, prefix=prefix, found=files)
    # The files must be the model that scored what its run logged: loaded (in a sandbox) and run on the
    # validation rows, it gives that run's val_rmse again (which run it is, is step5.registered's business).
    by_id = {r.run_id: r for r in step.runs()}
    source = by_id.get(version.run_id)
    logged = val_rmse(source) if source is not None and val_rmse(source) is not None else val_rmse(best_child(step))
    found, why = step.model_rmse(prefix, files)
    if found is None:
        fail("registry.unloadable", logged=logged, error=why)
    expect(math.isclose(found, logged, rel_tol=1e-6, abs_tol=1e-9), "registry.rmse", logged=logged, found=found)
