"""Durable DAG workflows: chain, group and chord of signed jobs, driven through the supervisor."""

from horus.coordinator.canvas import chain, chord, group, step, workflow
from horus.coordinator.client import CoordinatorClient
from horus.coordinator.errors import WorkflowNotFound, WorkflowRejected
from horus.coordinator.models import Policy, Step, Workflow

__all__ = [
    "CoordinatorClient",
    "Policy",
    "Step",
    "Workflow",
    "WorkflowNotFound",
    "WorkflowRejected",
    "chain",
    "chord",
    "group",
    "step",
    "workflow",
]
