"""``injector uninject``: ``uninject(inject(X)) == X`` on our goldens and Istio's.

For every golden pair (``testdata/inject`` as the CLI wrote it, ``testdata/istio/inject`` as
Istio's kube-inject wrote it) uninjecting the injected file gives the input back, compared
semantically (``helpers.normalize``), and byte for byte where the injection only added and
replaced lines. Where the injection left no record of what it replaced, ``INEXACT`` says
what comes back instead, and whether a warning names it. Uninjecting any input (nothing
injected) changes nothing.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from injector import quantity, uninject
from injector.cli import main
from injector.config import InjectorConfig
from injector.core import Injector
from injector.manifests import transform
from tests.injector.helpers import ISTIO, OURS, istio_config, load_docs, normalize
from tests.injector.test_golden import case_config
from tests.injector.test_istio_parity import CASES as ISTIO_CASES

Docs = list[Any]


def _pods(doc: Any) -> list[dict[str, Any]]:
    """The pod templates (or pods) of a document."""
    if doc.get("kind") == "List":
        return [p for item in doc["items"] for p in _pods(item)]
    spec = doc.get("spec") or {}
    if doc.get("kind") == "Pod":
        return [doc]
    if doc.get("kind") == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]]
    return [spec["template"]] if "template" in spec else []


def _numbered_probe_ports(docs: Docs) -> Docs:
    """Named probe ports as the numbers they name (the record keeps only the number)."""
    docs = copy.deepcopy(docs)
    for doc in docs:
        for pod in _pods(doc):
            for container in pod["spec"]["containers"]:
                ports = {p.get("name"): p["containerPort"] for p in container.get("ports") or []}
                handlers = [container.get(f) for f in ("readinessProbe", "livenessProbe")]
                handlers += [container.get("startupProbe")]
                handlers += list((container.get("lifecycle") or {}).values())
                for handler in filter(None, handlers):
                    for action in handler.values():
                        if isinstance(action, dict) and action.get("port") in ports:
                            action["port"] = ports[action["port"]]
    return docs


def _quantities_by_value(docs: Docs) -> Docs:
    """Resource quantities as numbers (an override's are recorded in canonical form)."""
    docs = copy.deepcopy(docs)
    for doc in docs:
        for pod in _pods(doc):
            for container in pod["spec"]["containers"]:
                for section in (container.get("resources") or {}).values():
                    for key, value in section.items():
                        section[key] = str(quantity.parse(str(value)).normalize())
    return docs


def _same(docs: Docs) -> Docs:
    return docs


def _without_default_container(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    del docs[0]["metadata"]["annotations"]["kubectl.kubernetes.io/default-container"]
    if not docs[0]["metadata"]["annotations"]:
        del docs[0]["metadata"]["annotations"]
    return docs


def _with_first_target(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    annotations = docs[0]["metadata"]["annotations"]
    annotations.update({"prometheus.io/port": "8080", "prometheus.io/path": "/metrics"})
    return docs


def _with_team_label(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    docs[1]["metadata"]["labels"]["team"] = "shop"
    return docs


def _cni_kept_secret_removed(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    docs[0]["metadata"]["annotations"].update(
        {
            "sidecar.istio.io/interceptionMode": "REDIRECT",
            "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
            "traffic.sidecar.istio.io/includeInboundPorts": "*",
            "traffic.sidecar.istio.io/excludeInboundPorts": "7070,15020",
        }
    )
    del docs[0]["spec"]["imagePullSecrets"]
    return docs


def _cni_kept(docs: Docs, **extra: str) -> Docs:
    """The CNI template's annotations, as injection wrote them, kept on every pod."""
    docs = copy.deepcopy(docs)
    for doc in docs:
        for pod in _pods(doc):
            annotations = pod["metadata"].setdefault("annotations", {})
            annotations.update(
                {
                    "sidecar.istio.io/interceptionMode": "REDIRECT",
                    "traffic.sidecar.istio.io/includeOutboundIPRanges": "*",
                    "traffic.sidecar.istio.io/includeInboundPorts": "*",
                    "traffic.sidecar.istio.io/excludeInboundPorts": "15020",
                    **extra,
                }
            )
    return docs


def _multus_compact(docs: Docs) -> Docs:
    """The Multus JSON network list in the compact spelling injection rewrote it in."""
    docs = copy.deepcopy(docs)
    for doc in docs:
        for pod in _pods(doc):
            annotations = pod["metadata"]["annotations"]
            key = "k8s.v1.cni.cncf.io/networks"
            annotations[key] = json.dumps(json.loads(annotations[key]), separators=(",", ":"))
    return docs


def _cni_kept_multus_compact(docs: Docs) -> Docs:
    ports = {
        "traffic.sidecar.istio.io/includeOutboundPorts": "8443,9443",
        "traffic.sidecar.istio.io/excludeOutboundPorts": "5432",
    }
    return _multus_compact(_cni_kept(docs, **ports))


_MULTUS_COMPACT = "istio-cni removed from the JSON list, which comes back written compactly"


def _without_scc_proxy_user(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    for container in docs[0]["spec"]["template"]["spec"]["containers"]:
        if container["name"] == "istio-proxy":
            del container["securityContext"]["runAsUser"]
    return docs


# golden -> (what comparison the result gets, a warning that must name it, or "" for an
# equivalent pod that needs none)
INEXACT: dict[str, tuple[Callable[[Docs], Docs], str]] = {
    # the kubelet resolves a named port and its number alike; the record keeps the number
    "probes": (_numbered_probe_ports, ""),
    "hello-probes": (_numbered_probe_ports, ""),
    # an override's quantities are recorded canonically (3000m -> 3): the same quantity
    "quantities": (_quantities_by_value, ""),
    "proxy-override": (_quantities_by_value, ""),
    # the annotation named the first container, which is kubectl's default without it
    "canonical-labels": (_without_default_container, ""),
    # the first scrape target stands in for a missing port and path: no record which it was
    "prometheus-targets": (_with_first_target, "restored from the first scrape target"),
    # the CNI template's annotations and the values' pull secrets have no record
    "values-settings": (_cni_kept_secret_removed, "the CNI template sets them"),
    "proxy-override-runas-cni": (_cni_kept, "the CNI template sets them"),
    # ... and injection rewrote the Multus JSON list compactly: its spacing has no record
    "cni-multus-json": (_cni_kept_multus_compact, "the CNI template sets them"),
    # labels of an operator's own template are not in the injection record
    "values-decide": (_with_team_label, ""),
    # the runAsUser OpenShift's SCC wrote into the user's istio-proxy is dropped by injection
    # (so the proxy runs as the range's top) and not recorded; the SCC writes it again
    "openshift-scc-assigned-user": (_without_scc_proxy_user, ""),
}
EQUIVALENCES = (_numbered_probe_ports, _quantities_by_value)
INEXACT_WARNINGS = {
    "values-settings": "imagePullSecrets removed as injected: existing-secret",
    "cni-multus-json": _MULTUS_COMPACT,
}


def _pairs() -> list[tuple[str, Path, Path]]:
    """(name, input, injected) of every golden pair; Istio's goldens name their input in
    ``test_istio_parity.CASES`` (``hello-old-version`` is injected from ``hello.yaml``)."""
    pairs = []
    for injected in sorted(OURS.glob("*.yaml.injected")) + sorted(ISTIO.glob("*.yaml.injected")):
        name = injected.name.removesuffix(".yaml.injected")
        source = injected.parent / f"{name}.yaml"
        if injected.parent == ISTIO:
            source = ISTIO / f"{ISTIO_CASES[name][0]}.yaml"
        pairs.append((name, source, injected))
    return pairs


PAIRS = _pairs()
# Cases where the injection only added lines and replaced scalars: the file comes back whole.
TEXTUAL = {
    "already-injected", "cronjob", "daemonset", "deployment", "deploymentconfig",
    "host-network", "interception-none-native", "interception-tproxy", "job", "multi-document",
    "otel-attributes", "owned-by-cronjob", "owned-by-replicaset", "pod-bare",
    "proxy-metadata-order", "proxy-settings", "replicaset", "replicationcontroller",
    "statefulset", "system-namespace", "traffic-annotations", "workload-name-label",
}  # fmt: skip


def test_every_golden_pair_is_covered() -> None:
    ours = [p for p in PAIRS if p[2].parent == OURS]
    assert len(ours) == len(list(OURS.glob("*.injected"))) >= 40
    assert len(PAIRS) - len(ours) == len(list(ISTIO.glob("*.injected"))) >= 15
    assert TEXTUAL <= {p[0] for p in ours}
    assert set(INEXACT) <= {p[0] for p in PAIRS}


@pytest.mark.parametrize(("name", "source", "injected"), PAIRS, ids=lambda v: str(v)[-40:])
def test_uninject_inverts_inject(name: str, source: Path, injected: Path) -> None:
    result = transform(injected.read_text(), uninject.edit)
    warnings = [w for r in result.reports if r.outcome for w in r.outcome.warnings]
    expected = load_docs(source.read_text())
    got = load_docs(result.text)
    adjust, warning = INEXACT.get(name, (_same, ""))
    expected = adjust(expected)
    if adjust in EQUIVALENCES:  # the same spelling on both sides
        got = adjust(got)
    assert normalize(got) == normalize(expected)
    if warning:
        assert any(warning in w for w in warnings), warnings
    if name in INEXACT_WARNINGS:
        assert any(INEXACT_WARNINGS[name] in w for w in warnings), warnings
    if injected.parent == OURS and name in TEXTUAL:
        assert result.text == source.read_text()


@pytest.mark.parametrize(
    "source", sorted({p[1] for p in PAIRS}), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_uninject_of_an_uninjected_file_changes_nothing(source: Path) -> None:
    text = source.read_text()
    result = transform(text, uninject.edit)
    assert result.text == text
    assert all(r.outcome is None or not r.outcome.injected for r in result.reports)


def _uninject(pod: dict[str, Any]) -> Any:
    return uninject.uninject(pod)


def _injected_pod() -> dict[str, Any]:
    (doc,) = load_docs((OURS / "pod-bare.yaml.injected").read_text())
    assert isinstance(doc, dict)
    return doc


def test_a_proxy_without_the_record_is_left_and_named() -> None:
    pod = _injected_pod()
    del pod["metadata"]["annotations"]["sidecar.istio.io/status"]
    outcome = _uninject(pod)
    assert not outcome.injected
    assert "istio-proxy kept" in outcome.warnings[0]


def test_a_volume_an_app_container_mounts_is_kept_with_a_warning() -> None:
    pod = _injected_pod()
    pod["spec"]["containers"][0]["volumeMounts"] = [{"name": "istio-data", "mountPath": "/d"}]
    outcome = _uninject(pod)
    assert [v["name"] for v in outcome.pod["spec"]["volumes"]] == ["istio-data"]
    assert any("volume istio-data kept" in w for w in outcome.warnings)


def test_a_probe_edited_after_injection_is_named() -> None:
    (doc,) = load_docs((OURS / "probes.yaml.injected").read_text())
    doc["spec"]["containers"][0]["livenessProbe"] = {"httpGet": {"path": "/mine", "port": 1}}
    outcome = _uninject(doc)
    assert doc["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"path": "/mine", "port": 1}
    }
    assert any("/app-health/web/livez: not restored" in w for w in outcome.warnings)


def test_a_broken_record_is_an_error_naming_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (OURS / "pod-bare.yaml.injected").read_text()
    path = tmp_path / "pod.yaml"
    path.write_text(text.replace("sidecar.istio.io/status: '{", "sidecar.istio.io/status: '{{"))
    out = tmp_path / "out.yaml"
    assert main(["uninject", "-f", str(path), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "document 1" in err and "sidecar.istio.io/status is not valid JSON" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("golden", "old", "new", "message"),
    [
        (
            "owned-by-replicaset",
            "pod-template-hash: 7d4b9c6f5",
            "pod-template-hash: 7",
            "pod metadata.labels must map strings to strings",
        ),
        (
            "owned-by-cronjob",
            "  ownerReferences:\n  - {",
            "  ownerReferences: 1\n  references:\n  - {",
            "pod metadata.ownerReferences must be a list of objects",
        ),
        (
            "gateway",
            "- name: net.ipv4.ip_unprivileged_port_start",
            "- name: [net.ipv4.ip_unprivileged_port_start]",
            "pod spec.securityContext.sysctls[0].name must be a string, not a list",
        ),
    ],
)
def test_fields_of_the_wrong_type_are_an_error_naming_them_not_a_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    golden: str,
    old: str,
    new: str,
    message: str,
) -> None:
    text = (OURS / f"{golden}.yaml.injected").read_text()
    assert old in text
    path = tmp_path / "pod.yaml"
    path.write_text(text.replace(old, new, 1))
    assert main(["uninject", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: document 1") and message in err and err.count("\n") == 1


def test_a_record_listing_no_names_is_an_error_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (OURS / "pod-bare.yaml.injected").read_text()
    path = tmp_path / "pod.yaml"
    path.write_text(text.replace('"containers":null', '"containers":1'))
    assert main(["uninject", "-f", str(path)]) == 1
    err = capsys.readouterr().err
    assert "sidecar.istio.io/status: containers must be a list of names" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_uninject_to_a_file_stdin_and_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    injected = OURS / "deployment.yaml.injected"
    original = (OURS / "deployment.yaml").read_text()
    out = tmp_path / "out.yaml"
    assert main(["uninject", "-f", str(injected), "-o", str(out)]) == 0
    assert out.read_text() == original
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(injected.read_bytes())))
    assert main(["uninject", "-f", "-"]) == 0
    assert capsys.readouterr().out == original
    assert main(["uninject", "--diff", "-f", str(injected)]) == 1
    diff = capsys.readouterr().out
    assert f"+++ {injected} (uninjected)" in diff
    assert "-        sidecar.istio.io/status:" in diff
    assert main(["uninject", "--diff", "-f", str(OURS / "deployment.yaml")]) == 0
    assert capsys.readouterr().out == ""


def test_cli_uninject_json_stays_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (doc,) = load_docs((OURS / "deployment.yaml.injected").read_text())
    path = tmp_path / "d.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    assert main(["uninject", "-f", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("{\n  ")
    assert normalize(json.loads(out)) == normalize(
        load_docs((OURS / "deployment.yaml").read_text())[0]
    )


def test_cli_uninject_warnings_go_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["uninject", "-f", str(OURS / "values-settings.yaml.injected")]) == 0
    err = capsys.readouterr().err
    assert "warning: document 1 (Pod/from-values): annotations kept:" in err


def _secret_removed(docs: Docs) -> Docs:
    docs = copy.deepcopy(docs)
    del docs[0]["spec"]["imagePullSecrets"]
    return docs


# With the configuration the goldens were injected with, what only re-injection can tell goes.
INEXACT_CONFIGURED = {
    **INEXACT,
    "values-decide": (_same, ""),
    "values-settings": (_secret_removed, "imagePullSecrets removed as injected"),
    "proxy-override-runas-cni": (_same, ""),
    "cni-multus-json": (_multus_compact, _MULTUS_COMPACT),
}


def _config_of(injected: Path) -> InjectorConfig:
    name = injected.name.removesuffix(".yaml.injected")
    if injected.parent == OURS:
        return case_config(name)
    source, native, *extra = ISTIO_CASES[name]
    return istio_config(native, *extra)


@pytest.mark.parametrize(("name", "source", "injected"), PAIRS, ids=lambda v: str(v)[-40:])
def test_uninject_with_the_configuration(name: str, source: Path, injected: Path) -> None:
    edit = uninject.Uninjector(Injector(_config_of(injected)))
    result = transform(injected.read_text(), edit)
    warnings = [w for r in result.reports if r.outcome for w in r.outcome.warnings]
    adjust, warning = INEXACT_CONFIGURED.get(name, (_same, ""))
    expected = adjust(load_docs(source.read_text()))
    got = load_docs(result.text)
    if adjust in EQUIVALENCES:
        got = adjust(got)
    assert normalize(got) == normalize(expected)
    if warning:
        assert any(warning in w for w in warnings), warnings
    assert not any("CNI template" in w for w in warnings)
    if injected.parent == OURS and name in TEXTUAL:
        assert result.text == source.read_text()


def test_cli_uninject_with_values_removes_what_the_templates_added(
    capsys: pytest.CaptureFixture[str],
) -> None:
    injected = str(OURS / "values-decide.yaml.injected")
    values = str(OURS / "values-decide.values.yaml")
    assert main(["uninject", "-f", injected]) == 0
    assert "team: shop" in capsys.readouterr().out  # no record of the custom template's label
    assert main(["uninject", "-f", injected, "--values", values]) == 0
    out = capsys.readouterr().out
    assert "team: shop" not in out
    assert load_docs(out) == load_docs((OURS / "values-decide.yaml").read_text())


def test_with_the_configuration_the_pods_own_cni_annotation_stays() -> None:
    own = "traffic.sidecar.istio.io/excludeOutboundIPRanges"
    (pod,) = load_docs((OURS / "values-settings.yaml").read_text())
    pod["metadata"]["annotations"][own] = "10.0.0.0/8"
    injector = Injector(case_config("values-settings"))
    injected = injector.inject(pod)
    assert injected.injected
    outcome = uninject.uninject(injected.pod, injector=injector)  # type: ignore[union-attr]
    assert outcome.pod["metadata"]["annotations"] == {  # type: ignore[union-attr]
        "k8s.v1.cni.cncf.io/networks": "macvlan-conf",
        own: "10.0.0.0/8",
    }
    assert not any("CNI template" in w for w in outcome.warnings)


def test_the_grpc_templates_probe_annotation_goes_and_a_pods_own_stays() -> None:
    key = "sidecar.istio.io/rewriteAppHTTPProbers"
    (grpc,) = load_docs((OURS / "grpc-agent-hold.yaml.injected").read_text())
    assert grpc["metadata"]["annotations"][key] == "false"
    assert key not in _uninject(grpc).pod["metadata"]["annotations"]
    pod = _injected_pod()  # the sidecar template sets no such annotation: this one is the pod's
    pod["metadata"]["annotations"][key] = "false"
    assert _uninject(pod).pod["metadata"]["annotations"] == {key: "false"}


@pytest.mark.parametrize(
    ("injected", "original"),
    [
        ("macvlan-conf, default/istio-cni", "macvlan-conf"),
        ("default/istio-cni, macvlan-conf", "default/istio-cni, macvlan-conf"),  # the pod's own
        ('[{"name":"a"},{"name":"istio-cni","namespace":"default"}]', '[{"name":"a"}]'),
        ('[{"name":"istio-cni","namespace":"default"},{"name":"a"}]', None),  # the pod's own
    ],
)
def test_only_the_multus_entry_injection_appends_is_removed(
    injected: str, original: str | None
) -> None:
    pod = _injected_pod()
    pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"] = injected
    got = _uninject(pod).pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
    assert got == (injected if original is None else original)


def test_a_flow_mapping_keeps_its_quoting_when_uninject_rewrites_it() -> None:
    text = (OURS / "already-injected.yaml.injected").read_text()
    result = transform(text, uninject.edit)
    assert 'annotations: {prometheus.io/port: "8081", prometheus.io/scrape: "true"}' in result.text
