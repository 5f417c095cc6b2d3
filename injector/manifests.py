"""``injector inject`` / ``check`` over manifest streams (multi-document YAML or JSON, ``List``).

Each document is handled on its own, so memory follows the largest document, not the file.
A document that holds no workload is never constructed (only composed, which validates it
and costs no alias expansion) and is written back byte for byte. For a workload, the pod
template goes through the same core as the webhook, and the core's JSON Patch is spliced
into the document's text (``injector.splice``): only the lines the patch touches change.
JSON documents come back as JSON. Documents whose workload shares nodes through YAML aliases
are re-emitted by ruamel instead (``injector.roundtrip``), after their expansion is bounded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpatch
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from injector import jsonshape, safeyaml, uninject
from injector.core import InjectionParams, Injector, Outcome
from injector.errors import InjectionError, ManifestError
from injector.identity import Workload
from injector.splice import Splicer, Unplaceable
from injector.yamltext import Style

_SEPARATOR = re.compile(r"^---(?=\s|$)")
_MERGE_TAG = "tag:yaml.org,2002:merge"
# A document may expand through aliases to this many nodes, or ten times its own size.
ALIAS_EXPANSION_LIMIT = 10_000
# What is done to each pod template: ``Injector.inject``, or another edit of that shape.
Edit = Callable[[Any, InjectionParams], Outcome]
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
    """What happened to one object: a workload's outcome, an error, or a kind passed over."""

    document: str  # "3", or "3.2" for the second item of a List in document 3
    kind: str
    name: str
    namespace: str = "default"
    outcome: Outcome | None = None  # None: not evaluated (see error / passed_over)
    error: str = ""  # the document could not be processed (``check`` lists it and goes on)
    passed_over: str = ""  # a kind we do not inject that has a pod template at this path
    labels: Mapping[str, str] = field(default_factory=dict)  # the pod template's labels

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.name}" if self.name else (self.kind or "-")


@dataclass
class Result:
    text: str
    reports: list[Report] = field(default_factory=list)


@dataclass(frozen=True)
class Document:
    """One document of a stream: its ``---`` line (or ""), its text, its number (1-based,
    counting documents with content; 0 for comments or blank lines before the first)."""

    separator: str
    body: str
    number: int


def split_documents(lines: Iterable[str]) -> Iterator[Document]:
    """The documents of a YAML stream, as they come (lines keep their line endings)."""
    separator, body, number = "", list[str](), 0
    for line in lines:
        if _SEPARATOR.match(line):
            if body or separator:
                yield _document_of(separator, body, number)
                number += _has_content(body)
            separator, body = line, []
        else:
            body.append(line)
    if body or separator:
        yield _document_of(separator, body, number)


def _document_of(separator: str, body: list[str], before: int) -> Document:
    return Document(separator, "".join(body), before + 1 if _has_content(body) else 0)


def _has_content(lines: list[str]) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#") for line in lines)


def transform(text: str, injector: Injector | Edit, *, inject: bool = True) -> Result:
    """Inject (or, with ``inject=False``, only evaluate) every workload in ``text``; with an
    ``Edit`` instead of an ``Injector``, apply that edit (e.g. ``uninject.edit``)."""
    result = Result("")
    out = [
        process(doc, injector, result.reports, inject=inject)
        for doc in split_documents(text.splitlines(keepends=True))
    ]
    result.text = "".join(out)
    return result


def process(
    doc: Document,
    injector: Injector | Edit,
    reports: list[Report],
    *,
    inject: bool,
    keep_going: bool = False,
) -> str:
    """The document's new text (separator included); its reports are appended to ``reports``.

    ``ManifestError`` names the document; with ``keep_going`` it becomes a report instead
    and the document is returned unchanged.
    """
    if not doc.number:
        return doc.separator + doc.body
    edit = injector.inject if isinstance(injector, Injector) else injector
    try:
        return doc.separator + _document(doc.body, str(doc.number), edit, reports, inject)
    except ManifestError as exc:
        if not keep_going:
            raise
        reports.append(Report(str(doc.number), "", "", error=str(exc)))
        return doc.separator + doc.body


@dataclass
class _Workload:
    index: str
    kind: str
    path: tuple[str | int, ...]  # of the pod template inside the document
    node: Node | None  # the template's node (YAML documents)
    obj: Node | None = None  # the object's node (YAML documents)


def _document(body: str, index: str, edit: Edit, reports: list[Report], inject: bool) -> str:
    if body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            pass  # YAML in flow style
        except RecursionError:
            raise ManifestError(f"document {index}: JSON nested too deeply") from None
        else:
            return _json_document(body, data, index, edit, reports, inject)
    root = _compose(body, index)
    workloads = list(_workloads(root, index, reports))
    if not workloads:
        return body
    shared = _check_aliases(root, index)
    _check_duplicates(root, index)
    data = _construct(root, index)
    patches: list[tuple[_Workload, list[dict[str, Any]]]] = []
    for workload in workloads:
        ops = _evaluate(data, workload, index, edit, reports)
        if inject and ops:
            patches.append((workload, ops))
    if not patches:
        return body
    if not shared:
        splicer = Splicer(body, _style(root), "\r\n" if "\r\n" in body else "\n")
        try:
            for workload, ops in patches:
                assert workload.node is not None
                splicer.patch(workload.node, ops)
            return splicer.apply()
        except Unplaceable:
            pass
    from injector import roundtrip  # ruamel: only for documents that need it

    return roundtrip.reemit(body, [(w.path, ops) for w, ops in patches], _style(root).mapping)


def _json_document(
    body: str, data: Any, index: str, edit: Edit, reports: list[Report], inject: bool
) -> str:
    """A JSON document: injected objects are written back as JSON, indented as they came."""
    if not isinstance(data, dict):
        raise ManifestError(f"document {index}: expected a Kubernetes object, got {_type(data)}")
    changed = False
    for workload in _plain_workloads(data, index, reports):
        ops = _evaluate(data, workload, index, edit, reports)
        if inject and ops:
            template = _at(data, workload.path)
            if "metadata" not in template:
                template_items = list(template.items())
                template.clear()
                template.update([("metadata", {}), *template_items])
            jsonpatch.apply_patch(template, ops, in_place=True)
            changed = True
    if not changed:
        return body
    second = body.lstrip().split("\n", 2)[1:2]
    indent = len(second[0]) - len(second[0].lstrip(" ")) if second and second[0].strip() else 0
    text = json.dumps(data, indent=indent or None, ensure_ascii=False)
    return text + (body[len(body.rstrip()) :] or "\n")


def _compose(body: str, index: str) -> MappingNode:
    try:
        root = yaml.compose(body, Loader=safeyaml.Loader)
    except yaml.YAMLError as exc:
        raise ManifestError(f"document {index}: YAML syntax error: {_yaml_problem(exc)}") from exc
    if not isinstance(root, MappingNode):
        raise ManifestError(
            f"document {index}: expected a Kubernetes object (a mapping), got {_node_type(root)}"
        )
    return root


def _workloads(root: MappingNode, index: str, reports: list[Report]) -> Iterator[_Workload]:
    kind = _scalar(root, "kind")
    if kind == "List":
        items = _get(root, "items")
        if isinstance(items, SequenceNode):
            for n, item in enumerate(items.value, start=1):
                if isinstance(item, MappingNode):
                    for found in _workloads(item, f"{index}.{n}", reports):
                        found.path = ("items", n - 1, *found.path)
                        yield found
        return
    path = TEMPLATE_PATHS.get(kind)
    if path is None:
        _note_passed_over(root, kind, index, reports)
        return
    node: Node | None = root
    for step in path:
        node = _get(node, step) if isinstance(node, MappingNode) else None
    yield _Workload(index, kind, path, node, root)


def _note_passed_over(root: MappingNode, kind: str, index: str, reports: list[Report]) -> None:
    """Kinds we do not inject that carry a pod template (Argo Rollout, Knative, ...)."""
    for path in (("spec", "template"), ("spec", "jobTemplate", "spec", "template")):
        node: Node | None = root
        for step in (*path, "spec"):
            node = _get(node, step) if isinstance(node, MappingNode) else None
        if isinstance(node, MappingNode):
            name = _scalar(_get(root, "metadata"), "name")
            reports.append(Report(index, kind, name, passed_over=".".join(path)))
            return


def _plain_workloads(
    data: dict[str, Any], index: str, reports: list[Report]
) -> Iterator[_Workload]:
    kind = str(data.get("kind") or "")
    if kind == "List":
        for n, item in enumerate(data.get("items") or [], start=1):
            if isinstance(item, dict):
                for found in _plain_workloads(item, f"{index}.{n}", reports):
                    found.path = ("items", n - 1, *found.path)
                    yield found
    elif kind in TEMPLATE_PATHS:
        yield _Workload(index, kind, TEMPLATE_PATHS[kind], None)


def _evaluate(
    data: Any, workload: _Workload, index: str, edit: Edit, reports: list[Report]
) -> list[dict[str, Any]]:
    """Run the core on one workload; returns the patch of its template (empty: no change)."""
    obj = _at(data, workload.path[: len(workload.path) - len(TEMPLATE_PATHS[workload.kind])])
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), Mapping) else {}
    name = str(metadata.get("name") or metadata.get("generateName") or "")
    namespace = str(metadata.get("namespace") or "default")
    label = f"{workload.kind}/{name}" if name else workload.kind
    template = _at(data, workload.path)
    if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
        where = ".".join(TEMPLATE_PATHS[workload.kind]) or "the pod"
        what = f"{where}.spec" if TEMPLATE_PATHS[workload.kind] else "spec"
        raise ManifestError(
            f"document {workload.index} ({label}): {what} is missing: no pod template to inject"
        )
    pod = _plain_pod(template, f"document {workload.index} ({label})")
    job = _at(data, workload.path[:-2]) if workload.kind == "CronJob" else None
    lifted = isinstance(edit, uninject.Uninjector) and uninject.record_on_job(pod, job)
    if lifted and isinstance(job, Mapping):  # Istio puts a CronJob pod's metadata there
        pod = {"metadata": _plain(job["metadata"], label, "metadata"), "spec": pod["spec"]}
    workload_id = Workload(name, namespace, workload.kind, str(obj.get("apiVersion") or ""))
    # A Pod is its own workload unless a controller owns it: let the core derive it, as the
    # webhook does (ReplicaSet -> Deployment, Job -> CronJob, ...).
    params = InjectionParams(
        namespace=namespace, workload=None if workload.kind == "Pod" else workload_id
    )
    try:
        outcome = edit(pod, params)
    except InjectionError as exc:
        raise ManifestError(f"document {workload.index} ({label}): {exc}") from exc
    labels = (pod.get("metadata") or {}).get("labels") or {}
    reports.append(Report(workload.index, workload.kind, name, namespace, outcome, labels=labels))
    ops = list(outcome.patch) if outcome.injected else []  # type: ignore[union-attr]
    if lifted and ops:  # paths relative to the jobTemplate: its metadata, the pod's spec
        workload.path = workload.path[:-2]
        workload.node = _get(_get(workload.obj, "spec"), "jobTemplate")
        ops = [
            {**op, "path": op["path"].replace("/spec", "/spec/template/spec", 1)}
            if op["path"].startswith("/spec")
            else op
            for op in ops
        ]
    return ops


def _at(data: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        if isinstance(step, int):
            data = data[step]
        else:
            data = data.get(step) if isinstance(data, Mapping) else None
    return data


def _check_aliases(root: Node, index: str) -> bool:
    """Whether aliases share nodes (or merge keys are used); bounds what they expand to."""
    sizes: dict[int, int] = {}
    merges = False

    def size(node: Node) -> int:
        nonlocal merges
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a node reached again while being measured adds nothing
        total = 1
        if isinstance(node, MappingNode):
            for key, value in node.value:
                merges = merges or key.tag == _MERGE_TAG
                total += size(key) + size(value)
        elif isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child)
        sizes[id(node)] = total
        return total

    try:
        expanded = size(root)
    except RecursionError:
        raise ManifestError(f"document {index}: nested too deeply") from None
    limit = max(ALIAS_EXPANSION_LIMIT, 10 * len(sizes))
    if expanded > limit:
        raise ManifestError(
            f"document {index}: excessive YAML aliasing: {len(sizes)} nodes expand to "
            f"more than {limit}"
        )
    return merges or expanded > len(sizes)


def _check_duplicates(root: Node, index: str) -> None:
    found = safeyaml.duplicate_key(root)
    if found is not None:
        repeat, first = found
        raise ManifestError(
            f"document {index}: line {repeat.start_mark.line + 1}: duplicate key "
            f"{repeat.value!r} (first at line {first.start_mark.line + 1})"
        )


def _construct(root: Node, index: str) -> Any:
    try:
        return safeyaml.Loader("").construct_document(root)
    except yaml.YAMLError as exc:
        raise ManifestError(f"document {index}: {_yaml_problem(exc)}") from exc


def _plain_pod(template: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A JSON-shaped copy of the pod template (the core's input): string keys only."""
    pod = {"spec": _plain(template["spec"], where, "spec")}
    if "metadata" in template:
        pod = {"metadata": _plain(template["metadata"] or {}, where, "metadata"), **pod}
    return pod


def _plain(value: Any, where: str, path: str, depth: int = 1) -> Any:
    if depth > jsonshape.MAX_DEPTH and isinstance(value, Mapping | list):
        raise ManifestError(
            f"{where}: {jsonshape.shorten(path)}: nested deeper than {jsonshape.MAX_DEPTH} levels"
        )
    if isinstance(value, Mapping):
        out = {}
        for key, child in value.items():
            if not isinstance(key, str):
                raise ManifestError(
                    f"{where}: {path}: key {key!r} is not a string (quote it, or fill in "
                    "template placeholders first)"
                )
            out[key] = _plain(child, where, f"{path}.{key}", depth + 1)
        return out
    if isinstance(value, list):
        return [_plain(child, where, f"{path}[{n}]", depth + 1) for n, child in enumerate(value)]
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return str(value)  # timestamps, binary


def _style(root: MappingNode) -> Style:
    """How the document indents nested mappings and sequences under keys."""
    mapping = offset = None
    queue: list[Node] = [root]
    while queue and (mapping is None or offset is None):
        node = queue.pop(0)
        if not isinstance(node, MappingNode) or node.flow_style:
            if isinstance(node, SequenceNode):
                queue.extend(node.value)
            continue
        for key, value in node.value:
            column = key.start_mark.column
            if isinstance(value, MappingNode) and not value.flow_style and value.value:
                if mapping is None and value.value[0][0].start_mark.line > key.start_mark.line:
                    mapping = value.value[0][0].start_mark.column - column
            elif isinstance(value, SequenceNode) and not value.flow_style and value.value:
                if offset is None:
                    offset = value.start_mark.column - column
            queue.append(value)
    return Style(mapping or 2, offset or 0)


def _get(node: Node | None, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if isinstance(k, ScalarNode) and k.value == key:
                found: Node = v
                return found
    return None


def _scalar(node: Node | None, key: str) -> str:
    found = _get(node, key)
    return str(found.value) if isinstance(found, ScalarNode) else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return str(problem)


def _node_type(node: Node | None) -> str:
    if isinstance(node, SequenceNode):
        return "a list"
    if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
        return "an empty document"
    return f"a scalar ({str(node.value)[:40]!r})"


def _type(data: Any) -> str:
    return "a list" if isinstance(data, list) else f"a scalar ({str(data)[:40]!r})"
