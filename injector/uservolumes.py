"""``sidecar.istio.io/userVolume`` and ``userVolumeMount``: checked as the API server would.

Both annotations are JSON objects mapping a volume name to a ``VolumeSource`` (userVolume) or
to a ``VolumeMount`` of ``istio-proxy`` (userVolumeMount). What the API server would refuse in
the injected pod is refused here, naming the annotation, instead of an injection that the
API server then rejects with a message about ``spec.volumes[9]``:

- ``volume`` / ``mount`` check each entry alone (names, one volume type at most, mount fields);
- ``check_pod`` checks the injected pod: a user volume whose name is taken, a mount of a
  volume the pod does not have, a mount path ``istio-proxy`` already uses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from injector import pods
from injector.pods import PROXY

VOLUME = "sidecar.istio.io/userVolume"
MOUNT = "sidecar.istio.io/userVolumeMount"
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PROPAGATION = ("None", "HostToContainer", "Bidirectional")


def _entries(value: str) -> dict[str, Any] | str:
    """The annotation's JSON object, or why it is not one."""
    try:
        doc = json.loads(value)
    except ValueError:
        return "is not valid JSON"
    if isinstance(doc, list):  # Istio also takes an array: item i is keyed "i"
        doc = {str(i): v for i, v in enumerate(doc)}
    if not isinstance(doc, dict) or not all(isinstance(v, dict) for v in doc.values()):
        return "must be a JSON object mapping names to objects, or a JSON array of objects"
    return doc


def _label(name: str) -> str | None:
    if len(name) > 63 or not _LABEL.match(name):
        return f"volume name {name!r} is not a lowercase RFC 1123 label of at most 63 characters"
    return None


def volume(value: str) -> str | None:
    """What is wrong with a userVolume value, if anything."""
    entries = _entries(value)
    if isinstance(entries, str):
        return entries
    for key, source in entries.items():
        name = str(source.get("name") or key)
        problem = _label(name)
        kinds = [k for k in source if k != "name"]
        if problem is None and len(kinds) > 1:  # none is fine: the API server adds emptyDir
            problem = f"volume {name!r} may have only one volume type, has {', '.join(kinds)}"
        if problem is None and kinds and not isinstance(source[kinds[0]], dict):
            problem = f"volume {name!r}: {kinds[0]} must be an object"
        if problem:
            return problem
    return None


def mount(value: str) -> str | None:
    """What is wrong with a userVolumeMount value, if anything."""
    entries = _entries(value)
    if isinstance(entries, str):
        return entries
    for name, fields in entries.items():
        problem = _label(name) or _mount_fields(name, fields)
        if problem:
            return problem
    return None


def _mount_fields(name: str, fields: Mapping[str, Any]) -> str | None:
    path = fields.get("mountPath")
    if not isinstance(path, str) or not path:
        return f"mount {name!r} needs a mountPath string"
    sub = fields.get("subPath", "")
    if not isinstance(sub, str) or sub.startswith("/") or ".." in sub.split("/"):
        return f"mount {name!r}: subPath must be a relative path without '..'"
    if not isinstance(fields.get("readOnly", False), bool):
        return f"mount {name!r}: readOnly must be true or false"
    propagation = fields.get("mountPropagation", "None")
    if propagation not in _PROPAGATION:
        return f"mount {name!r}: mountPropagation must be one of {', '.join(_PROPAGATION)}"
    return None


def check_pod(annotations: Mapping[str, str], spec: Mapping[str, Any]) -> list[str]:
    """Problems of the injected pod ``spec`` that the two annotations caused."""
    problems = []
    volumes = [v.get("name") for v in spec.get("volumes") or []]
    user_volumes = _entries(annotations.get(VOLUME, "{}"))
    for key, source in user_volumes.items() if isinstance(user_volumes, dict) else ():
        name = source.get("name") or key
        if volumes.count(name) > 1:
            problems.append(f"annotation {VOLUME}: volume name {name!r} is already used")
    user_mounts = _entries(annotations.get(MOUNT, "{}"))
    if not isinstance(user_mounts, dict) or not user_mounts:
        return problems
    proxy: Mapping[str, Any] = pods.container(spec, PROXY) or {}
    paths = [m.get("mountPath") for m in proxy.get("volumeMounts") or []]
    for key, fields in user_mounts.items():
        name = fields.get("name") or key
        if name not in volumes:
            problems.append(f"annotation {MOUNT}: the pod has no volume {name!r}")
        if paths.count(fields.get("mountPath")) > 1:
            path = fields.get("mountPath")
            problems.append(f"annotation {MOUNT}: mountPath {path!r} is already used in {PROXY}")
    return problems
