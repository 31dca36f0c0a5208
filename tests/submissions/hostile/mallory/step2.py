"""Hostile step 2: the MLflow REST API against everyone else, with this learner's own user."""
import os

import mlflow

from _common import finish, vandalise

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])
vandalise()
finish()
