"""Step 1 — the stack and an experiment (実験).

The first three checks are facts about the stack: MLflow answering, the tracking tables in the backend
store, the artifact bucket. The others read what ``exercises/step1.py`` created.
"""

from grader.checking import Output, expect
from grader.i18n import t
from grader.plugin import check

TABLES = {
    "alembic_version", "experiment_tags", "experiments", "latest_metrics", "metrics", "model_version_tags",
    "model_versions", "params", "registered_model_tags", "registered_models", "runs", "tags",
}


@check("step1.server")
def test_server(stack_facts):
    expect(stack_facts.health is not None, "server.health_no_answer", uri=stack_facts.uri)
    expect(stack_facts.health == 200, "server.health", uri=stack_facts.uri, status=stack_facts.health)
    expect(stack_facts.ui is not None, "server.ui_no_answer", uri=stack_facts.uri)
    expect(stack_facts.ui == 200, "server.ui", uri=stack_facts.uri, status=stack_facts.ui)


@check("step1.backend_tables")
def test_backend_tables(stack_facts):
    missing = TABLES - stack_facts.tables
    expect(not missing, "tables.missing", missing=missing, found=stack_facts.tables)


@check("step1.artifact_bucket")
def test_artifact_bucket(stack_facts):
    expect(stack_facts.bucket_exists, "bucket.missing", store=stack_facts.store)


@check("step1.experiment")
def test_experiment(step):
    step.experiment(active_only=True)


@check("step1.experiment_tag")
def test_experiment_tag(step):
    exp = step.experiment()
    expect(exp.tags.get("purpose") == "handson", "experiment.tag", key="purpose", value="handson",
           tags={k: v for k, v in exp.tags.items() if not k.startswith("mlflow.")})


@check("step1.duplicate_rejected")
def test_duplicate_rejected(step):
    step.experiment()
    # The step asks to catch the rejection and go on: the code inside a crash's traceback is not enough.
    expect(step.script.ok, "duplicate.crashed", code=step.script.returncode)
    expect("RESOURCE_ALREADY_EXISTS" in step.script.output, "duplicate.not_printed",
           tail=Output(step.script.tail(5)) if step.script.tail(5) else t("script.no_output"))
