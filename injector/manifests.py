"""``injector inject`` / ``check`` over manifest streams (multi-document YAML, ``List``).

Each document is handled on its own. Documents we do not change are written back byte for
byte. For a workload, the pod template goes through the same core as the webhook, and the
core's JSON Patch is applied to the round-trip (ruamel) document, so comments, key order,
quoting and indentation of everything we did not change are kept.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from injector.core import InjectionParams, Injector, Outcome
from injector.errors import InjectionError, ManifestError
from injector.identity import Workload

_SEPARATOR = re.compile(r"^---(?=\s|$)")
# kind -> path of the pod template inside the object
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "DeploymentConfig": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


@dataclass(frozen=True)
class Report:
    """What happened to one workload: for ``check`` and for stderr notes."""

    document: str  # "3", or "3.2" for the second item of a List in document 3
    kind: str
    name: str
    outcome: Outcome
    namespace: str = "default"
    pod_labels: Mapping[str, str] = field(default_factory=dict)  # what objectSelectors see

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else self.kind


@dataclass
class Result:
    text: str
    reports: list[Report] = field(default_factory=list)


@dataclass(frozen=True)
class _Chunk:
    separator: str  # the '---' line (with its newline) that opened the document, or ""
    body: str


def split_documents(text: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    separator, lines = "", list[str]()
    for line in text.splitlines(keepends=True):
        if _SEPARATOR.match(line):
            chunks.append(_Chunk(separator, "".join(lines)))
            separator, lines = line, []
        else:
            lines.append(line)
    chunks.append(_Chunk(separator, "".join(lines)))
    if not chunks[0].separator and not chunks[0].body.strip() and len(chunks) > 1:
        chunks[0] = _Chunk("", chunks[0].body)  # text before the first '---' (comments)
    return chunks


def transform(text: str, injector: Injector, *, inject: bool = True) -> Result:
    """Inject (or, with ``inject=False``, only evaluate) every workload in ``text``."""
    result = Result("")
    out: list[str] = []
    for index, chunk in enumerate(split_documents(text), start=1):
        body = _document(chunk.body, str(index), injector, result.reports, inject)
        out.append(chunk.separator + body)
    result.text = "".join(out)
    return result


def _document(
    body: str, index: str, injector: Injector, reports: list[Report], inject: bool
) -> str:
    if not body.strip() or all(
        line.lstrip().startswith("#") or not line.strip() for line in body.splitlines()
    ):
        return body
    try:
        data, indent, block_seq_indent = load_yaml_guess_indent(body, yaml=_loader())
    except YAMLError as exc:
        raise ManifestError(f"document {index}: YAML syntax error: {_yaml_problem(exc)}") from exc
    if not isinstance(data, Mapping):
        raise ManifestError(
            f"document {index}: expected a Kubernetes object (a mapping), got {_type_name(data)}"
        )
    if inject:
        _unshare(data, {id(data)})
    changed = _object(data, index, injector, reports, inject)
    if not changed:
        return body
    dumped = _dump(data, _map_indent(body), indent, block_seq_indent)
    return dumped.rstrip("\n") + (body[len(body.rstrip()) :] or "\n")  # keep trailing blank lines


def _object(obj: Any, index: str, injector: Injector, reports: list[Report], inject: bool) -> bool:
    kind = str(obj.get("kind") or "")
    if kind == "List":
        changed = False
        for n, item in enumerate(obj.get("items") or [], start=1):
            if isinstance(item, Mapping):
                changed |= _object(item, f"{index}.{n}", injector, reports, inject)
        return changed
    if kind not in TEMPLATE_PATHS:
        return False
    metadata = obj.get("metadata") or {}
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    label = f"{kind}/{name}" if name else kind
    template = _template(obj, kind, index, label)
    workload = Workload(
        name, str(metadata.get("namespace") or "default"), kind, str(obj.get("apiVersion") or "")
    )
    pod = _plain(template)
    # A Pod is its own workload unless a controller owns it: let the core derive it, as the
    # webhook does (ReplicaSet -> Deployment, Job -> CronJob, ...).
    params = InjectionParams(
        namespace=workload.namespace, workload=None if kind == "Pod" else workload
    )
    try:
        outcome = injector.inject(pod, params)
    except InjectionError as exc:
        raise ManifestError(f"document {index} ({label}): {exc}") from exc
    pod_labels = dict((pod.get("metadata") or {}).get("labels") or {})
    reports.append(Report(index, kind, name, outcome, workload.namespace, pod_labels))
    if not (inject and outcome.injected and outcome.patch):  # type: ignore[union-attr]
        return False
    if "metadata" not in template and isinstance(template, CommentedMap):
        template.insert(0, "metadata", CommentedMap())  # so added metadata comes before spec
    jsonpatch.apply_patch(template, outcome.patch, in_place=True)  # type: ignore[union-attr]
    _block_style_for_new_content(template)
    return True


def _unshare(node: Any, seen: set[int]) -> None:
    """Give every place its own copy of a node that YAML aliases share.

    ``labels: *labels`` makes the pod labels and the selector one object, and a JSON Patch
    applied to one would change both. Copies are written out in full; the first place
    keeps the node (and its anchor, if still referenced). The round-trip loader never
    builds cycles (a self-reference loads as null), so the walk ends.
    """
    items = node.items() if isinstance(node, Mapping) else enumerate(node)
    for key, child in list(items):
        if not isinstance(child, dict | list):
            continue
        if id(child) in seen:
            child = node[key] = copy.deepcopy(child)
        seen.add(id(child))
        _unshare(child, seen)


def _block_style_for_new_content(node: Any) -> bool:
    """Flow collections (``[{...}]``) that received our new objects switch to block style.

    Returns whether ``node`` holds new content, so untouched flow collections stay as written.
    """
    if isinstance(node, CommentedMap | CommentedSeq):
        children = node.values() if isinstance(node, CommentedMap) else node
        new = False
        for child in children:
            new |= _block_style_for_new_content(child)
        if new:
            node.fa.set_block_style()
        return new
    return isinstance(node, dict | list)


def _template(obj: Any, kind: str, index: str, label: str) -> Any:
    node = obj
    for step in TEMPLATE_PATHS[kind]:
        node = node.get(step) if isinstance(node, Mapping) else None
    if not isinstance(node, Mapping) or not isinstance(node.get("spec"), Mapping):
        where = ".".join(TEMPLATE_PATHS[kind]) or "the pod"
        what = f"{where}.spec" if TEMPLATE_PATHS[kind] else "spec"
        raise ManifestError(
            f"document {index} ({label}): {what} is missing: no pod template to inject"
        )
    return node


def _plain(node: Any) -> dict[str, Any]:
    """A plain-JSON copy of a round-trip node (the core's input)."""
    loaded: dict[str, Any] = json.loads(
        json.dumps({"metadata": node.get("metadata") or {}, "spec": node["spec"]}, default=str)
    )
    if "metadata" not in node:
        del loaded["metadata"]
    return loaded


def _loader() -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    return yaml


def _map_indent(body: str) -> int:
    """Indentation step of nested mappings in ``body`` (2 if it cannot tell)."""
    parent: int | None = None
    for line in body.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        depth = len(line) - len(line.lstrip(" "))
        if parent is not None and not stripped.startswith("- ") and depth > parent:
            return depth - parent
        parent = depth if stripped.endswith(":") and not stripped.startswith("- ") else None
    return 2


def _dump(data: Any, mapping: int, indent: int | None, block_seq_indent: int | None) -> str:
    yaml = _loader()
    yaml.width = 4096
    offset = block_seq_indent or 0
    yaml.indent(mapping=mapping, sequence=indent or (mapping + offset), offset=offset)
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _yaml_problem(exc: YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


def _type_name(data: Any) -> str:
    if isinstance(data, list):
        return "a list"
    if data is None:
        return "an empty document"
    return f"a scalar ({str(data)[:40]!r})"
