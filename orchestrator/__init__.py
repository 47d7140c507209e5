"""Builds and runs sweeps: the CLI, Tuner assembly, resources, MLflow parent runs, reports."""
