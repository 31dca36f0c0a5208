"""Loads the grader plugin: options, the stack, the submission runner and the reports."""

pytest_plugins = ["grader.plugin"]
