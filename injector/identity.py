"""Which workload a pod belongs to (``ISTIO_META_OWNER``, ``ISTIO_META_WORKLOAD_NAME``,
the canonical-name label).

The webhook sees only the pod: like Istio's ``GetDeployMetaFromPod`` it follows the
controller owner reference of a pod with ``generateName`` (ReplicaSet + pod-template-hash →
Deployment, Job named ``<x>-<8..10 digits>`` → CronJob, RC + ``deploymentconfig`` label →
DeploymentConfig, Argo Rollouts' hash → Rollout). ``injector inject`` knows the enclosing
object and passes it directly.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_CRONJOB_JOB = re.compile(r"^(.+)-\d{8,10}$")
_TRIM = "-_."


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    kind: str
    api_version: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "kind": self.kind,
            "api_version": self.api_version,
        }


def from_pod(metadata: Mapping[str, Any], namespace: str) -> Workload:
    name = str(metadata.get("name") or "")
    labels: Mapping[str, str] = metadata.get("labels") or {}
    if metadata.get("generateName"):
        owner = _controller(metadata)
        if owner is not None:
            return _from_owner(owner, labels, namespace, name)
    return Workload(name, namespace, "Pod", "v1")


def _controller(metadata: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in metadata.get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller") is True:
            return ref
    return None


def _from_owner(
    owner: Mapping[str, Any], labels: Mapping[str, str], namespace: str, pod_name: str
) -> Workload:
    kind = str(owner.get("kind") or "")
    api_version = str(owner.get("apiVersion") or "")
    name = str(owner.get("name") or "") or pod_name
    template_hash = labels.get("pod-template-hash", "")
    rollout_hash = labels.get("rollouts-pod-template-hash", "")
    if kind == "ReplicaSet" and template_hash and name.endswith("-" + template_hash):
        return Workload(name[: -len(template_hash) - 1], namespace, "Deployment", "apps/v1")
    if kind == "ReplicaSet" and rollout_hash and name.endswith("-" + rollout_hash):
        return Workload(
            name[: -len(rollout_hash) - 1], namespace, "Rollout", "argoproj.io/v1alpha1"
        )
    if kind == "ReplicationController" and labels.get("deploymentconfig"):
        return Workload(labels["deploymentconfig"], namespace, "DeploymentConfig", "v1")
    if kind == "Job":
        match = _CRONJOB_JOB.match(name)
        if match:
            return Workload(match.group(1), namespace, "CronJob", "batch/v1")
    return Workload(name, namespace, kind, api_version)


def canonical_name(labels: Mapping[str, str], workload: Workload) -> str:
    value = (
        labels.get("service.istio.io/canonical-name")
        or labels.get("app.kubernetes.io/name")
        or labels.get("app")
        or workload.name
    )
    return value[:63].rstrip(_TRIM)


def canonical_revision(labels: Mapping[str, str]) -> str:
    return (
        labels.get("service.istio.io/canonical-revision")
        or labels.get("app.kubernetes.io/version")
        or labels.get("version")
        or "latest"
    )[:63].rstrip(_TRIM) or "latest"


def workload_name(labels: Mapping[str, str], workload: Workload) -> str:
    return labels.get("service.istio.io/workload-name") or workload.name
