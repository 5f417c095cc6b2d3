"""``injector inject`` / ``check`` end to end through ``cli.main`` (argv in, exit code out)."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from injector.cli import main
from tests.injector.helpers import ISTIO, ISTIO_VALUES, load_docs

DEPLOYMENT = """\
# leading comment of document {i}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-{i}   # trailing comment {i}
  annotations:
    owner: "team-{i}"
spec:
  selector:
    matchLabels: {{app: app-{i}}}
  template:
    metadata:
      labels:
        app: app-{i}
    spec:
      containers:
        - name: app
          image: 'example.com/app:{i}'
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata:
    name:   svc-{i}    # odd spacing is kept byte for byte
spec:
    ports: [ {{port: 80}} ]
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def stdin(data: bytes) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.BytesIO(data))


def fifty_documents() -> str:
    docs = [(DEPLOYMENT if i % 2 else SERVICE).format(i=i) for i in range(50)]
    return "---\n".join(docs)


def test_fifty_documents_keep_comments_order_and_untouched_docs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "app.yaml", fifty_documents())
    out = tmp_path / "out.yaml"
    assert main(["inject", "-f", str(source), "-o", str(out)]) == 0
    text = out.read_text()
    for i in range(50):
        if i % 2:
            assert f"# leading comment of document {i}" in text
            assert f"name: app-{i}   # trailing comment {i}" in text
            assert f"image: 'example.com/app:{i}'" in text  # quoting preserved
        else:
            assert SERVICE.format(i=i) in text  # byte for byte
    docs = load_docs(text)
    assert len(docs) == 50
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert all(
        d["spec"]["template"]["spec"]["initContainers"][1]["name"] == "istio-proxy"
        for d in deployments
    )
    assert list(deployments[0]["metadata"]) == ["name", "annotations"]  # key order kept
    assert capsys.readouterr().err == ""


def test_stdin_and_stdout(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", stdin((ISTIO / "pod.yaml").read_bytes()))
    assert main(["inject", "-f", "-"]) == 0
    pod = yaml.safe_load(capsys.readouterr().out)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["istio-init", "istio-proxy"]


def test_values_file_in_istio_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    values = write(
        tmp_path,
        "values.json",
        '{"global": {"hub": "registry.istio.io/testing", "tag": "latest",'
        ' "proxy_init": {"image": "proxyv2"}, "remotePilotAdress": ""}}',
    )
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--values", str(values)]) == 0
    captured = capsys.readouterr()
    pod = yaml.safe_load(captured.out)
    assert pod["spec"]["initContainers"][0]["image"] == "registry.istio.io/testing/proxyv2:latest"
    assert "ignoring unknown values: global.remotePilotAdress" in captured.err


@pytest.mark.parametrize(
    "blob",
    [
        "istio-sidecar-injector.values.json",  # the `values` key of Istio 1.28's ConfigMap
        "istio-operator.values.yaml",  # an IstioOperator's spec.values: every component's
    ],
)
def test_a_real_istio_values_blob_raises_no_warning(
    blob: str, capsys: pytest.CaptureFixture[str]
) -> None:
    values = ISTIO.parent / "values" / blob
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--values", str(values)]) == 0
    assert capsys.readouterr().err == ""


def test_unknown_values_are_summarised_in_one_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    typos = {
        "global": {"hubb": "x", "proxy": {"autoInjct": "enabled", "logLevl": "info"}},
        "pilot": {"cni": {"enabeld": True}, "autoscaleEnabled": True},
        "sidecarInjectorWebhook": {"rewriteAppHTTPProbes": True, "template": {}},
        "mystery": 1,
    }
    values = write(tmp_path, "values.json", json.dumps(typos))
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--values", str(values)]) == 0
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"warning: {values}: ignoring unknown values: global.hubb, global.proxy.autoInjct, "
        "global.proxy.logLevl, mystery, pilot.cni.enabeld and 2 more"
    )


def test_no_native_sidecars_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--no-native-sidecars"]) == 0
    pod = yaml.safe_load(capsys.readouterr().out)
    assert [c["name"] for c in pod["spec"]["containers"]] == ["hello", "istio-proxy"]


def test_skip_is_reported_on_stderr_with_the_reason(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inject", "-f", str(ISTIO / "hello-host-network.yaml")]) == 0
    captured = capsys.readouterr()
    assert captured.out == (ISTIO / "hello-host-network.yaml").read_text()
    assert (
        "skipped Deployment/hello-host-network (document 1): pod uses hostNetwork" in captured.err
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x\nspec: {}\n",
            "document 1: YAML syntax error: line",
        ),
        (
            "kind: Pod\nmetadata: {name: ok}\nspec: {containers: []}\n---\n- just\n- a list\n",
            "document 2: expected a Kubernetes object (a mapping), got a list",
        ),
        (
            "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n",
            "document 1 (Deployment/d): spec.template.spec is missing",
        ),
        (
            "kind: Pod\nmetadata: {name: p, annotations: {status.sidecar.istio.io/port: '99999'}}\n"
            "spec: {containers: []}\n",
            "document 1 (Pod/p): invalid annotations: annotation status.sidecar.istio.io/port: "
            "'99999' is not an unsigned 16-bit integer",
        ),
    ],
)
def test_bad_input_one_line_exit_1_and_no_partial_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    source = write(tmp_path, "in.yaml", text)
    out = tmp_path / "out.yaml"
    out.write_text("previous content\n")
    assert main(["inject", "-f", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert out.read_text() == "previous content\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "in.yaml",
        "out.yaml",
    ]  # no temp files left


def test_with_several_inputs_the_error_names_the_file_before_the_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.yaml", "kind: Pod\nmetadata: {name: ok}\nspec: {containers: []}\n")
    bad = write(
        tmp_path, "bad.yaml", "kind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n"
    )
    assert main(["inject", "-f", str(good), "-f", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"error: {bad}: document 1 (Deployment/d): spec.template.spec is missing" in err


def test_missing_file_and_bad_config_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inject", "-f", str(tmp_path / "nope.yaml")]) == 1
    assert "nope.yaml: No such file or directory" in capsys.readouterr().err
    values = write(tmp_path, "values.yaml", "global:\n  proxy:\n    statusPort: 'fifteen'\n")
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--values", str(values)]) == 1
    assert (
        "global.proxy.statusPort: expected an integer, got str 'fifteen'" in capsys.readouterr().err
    )
    config = write(tmp_path, "config.yaml", "templates:\n  sidecar: '{{ if .Values }}'\n")
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--config", str(config)]) == 1
    assert "sidecar' (Go syntax): template: sidecar:1:4: unexpected EOF" in capsys.readouterr().err


ALIASED = """\
apiVersion: apps/v1
kind: Deployment
metadata: &meta
  name: web
  labels: &labels {app: web}
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      <<: *meta
    spec:
      containers:
      - name: web
        image: nginx
        readinessProbe: &probe
          httpGet: {port: 8080, path: /ready}
      - name: two
        image: nginx
        readinessProbe: *probe
"""


def test_yaml_aliases_are_injected_as_if_expanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The selector shares the pod labels and two containers share one probe: injecting the
    # template must change neither the selector nor one container through the other.
    expanded = json.dumps(yaml.safe_load(ALIASED))  # JSON is YAML without aliases
    outputs = []
    for name, text in (("aliased.yaml", ALIASED), ("expanded.yaml", expanded)):
        assert main(["inject", "-f", str(write(tmp_path, name, text))]) == 0
        outputs.append(yaml.safe_load(capsys.readouterr().out))
    aliased, plain = outputs
    assert aliased == plain
    assert aliased["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    containers = aliased["spec"]["template"]["spec"]["containers"]
    paths = [c["readinessProbe"]["httpGet"]["path"] for c in containers[:2]]
    assert paths == ["/app-health/web/readyz", "/app-health/two/readyz"]


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["inject"])
    assert info.value.code == 2
    assert "-f/--filename" in capsys.readouterr().err


def test_diff_shows_only_what_changes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inject", "-f", str(ISTIO / "pod.yaml"), "--diff"]) == 1  # changes: exit 1
    out = capsys.readouterr().out
    assert out.startswith("--- ")
    added = [
        line for line in out.splitlines() if line.startswith("+") and not line.startswith("+++")
    ]
    removed = [
        line for line in out.splitlines() if line.startswith("-") and not line.startswith("---")
    ]
    assert "+  initContainers:" in added and "+    - name: istio-init" in added
    assert removed == []  # injection only adds to this pod


def test_check_prints_a_decision_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "\n---\n".join(
        [
            (ISTIO / n).read_text()
            for n in ("hello.yaml", "hello-ignore.yaml", "hello-host-network.yaml", "list.yaml")
        ]
    )
    assert main(["check", "-f", str(write(tmp_path, "all.yaml", text))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["DOC", "WORKLOAD", "INJECT", "REASON"]
    rows = [line.split(None, 3) for line in lines[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("1", "Deployment/hello", "ns?"),
        ("2", "Deployment/hello", "no"),
        ("3", "Deployment/hello-host-network", "no"),
        ("4.1", "Deployment/hello-v1", "ns?"),
        ("4.2", "Deployment/hello-v2", "ns?"),
    ]
    assert "sidecar.istio.io/inject=false" in rows[1][3]
    assert "namespace default unknown" in rows[0][3]


def test_console_entry_point_runs_as_module(tmp_path: Path) -> None:
    values = write(tmp_path, "values.yaml", ISTIO_VALUES)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "injector",
            "inject",
            "-f",
            str(ISTIO / "hello.yaml"),
            "--values",
            str(values),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "registry.istio.io/testing/proxyv2:latest" in proc.stdout


@pytest.mark.parametrize(
    ("argv", "rest", "level"),
    [
        (["--log-level", "debug", "serve"], ["serve"], "debug"),
        (["serve", "--log-level", "error"], ["serve"], "error"),
        (["serve"], ["serve"], None),
        (["--log-level=info", "inject", "-f", "x"], ["inject", "-f", "x"], "info"),
        (["certs", "status", "--log-level", "debug"], ["certs", "status"], "debug"),
        (
            ["inject", "-f", "x", "--", "--log-level"],
            ["inject", "-f", "x", "--", "--log-level"],
            None,
        ),
    ],
)
def test_log_level_is_taken_from_anywhere_on_the_command_line(
    argv: list[str], rest: list[str], level: str | None
) -> None:
    from injector.cli import _pop_log_level

    assert _pop_log_level(argv) == (rest, level)


def test_log_level_works_for_certs_after_the_command(tmp_path: Path) -> None:
    # `injector --log-level debug certs status` used to be a usage error.
    code = main(["--log-level", "error", "certs", "status", "--cert-dir", str(tmp_path)])
    assert code == 1  # no certificates there: an error, not a usage error (2)


def test_bad_log_level_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["inject", "--log-level", "loud", "-f", "x"])
    assert info.value.code == 2
    assert "--log-level: choose from debug, info, warning, error" in capsys.readouterr().err


def test_user_volume_annotations_as_json_arrays_like_istio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Istio's Prometheus values use the array form; istiod ranges over it by index, and a
    # `name` inside an item wins over the index (which names items without one). A mount whose
    # index-name matches no volume is denied (the API server would refuse the pod).
    pod = """\
apiVersion: v1
kind: Pod
metadata:
  name: prometheus
  annotations:
    sidecar.istio.io/userVolume: '[{"name": "istio-certs", "emptyDir": {"medium": "Memory"}}]'
    sidecar.istio.io/userVolumeMount: >-
      [{"name": "istio-certs", "mountPath": "/etc/istio-output-certs"},
       {"name": "istio-certs", "mountPath": "/etc/second", "readOnly": true}]
spec:
  containers:
  - name: prometheus
    image: prom/prometheus
"""
    assert main(["inject", "-f", str(write(tmp_path, "p.yaml", pod))]) == 0
    injected = yaml.safe_load(capsys.readouterr().out)
    spec = injected["spec"]
    proxy = next(c for c in spec["initContainers"] if c["name"] == "istio-proxy")
    assert proxy["volumeMounts"][-2:] == [
        {"name": "istio-certs", "mountPath": "/etc/istio-output-certs"},
        {"name": "istio-certs", "mountPath": "/etc/second", "readOnly": True},
    ]
    assert spec["volumes"][-1] == {"name": "istio-certs", "emptyDir": {"medium": "Memory"}}
    unnamed = pod.replace('"readOnly": true}]', '"readOnly": true}, {"mountPath": "/unnamed"}]')
    assert main(["inject", "-f", str(write(tmp_path, "u.yaml", unnamed))]) == 1
    assert "the pod has no volume '2'" in capsys.readouterr().err


def test_certs_status_errors_are_one_plain_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["certs", "status", "--cert-dir", str(tmp_path / "nope")]) == 1
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'nope' / 'ca.crt'}: No such file or directory\n"
    )
    kubeconfig = write(
        tmp_path,
        "kubeconfig",
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: x}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n",
    )
    assert main(["certs", "status", "--kubeconfig", str(kubeconfig)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot reach the API server") and err.count("\n") == 1
    assert "Retrying" not in err


@pytest.mark.parametrize(
    ("module", "argv", "extra"),
    [
        ("certs.cli", ["certs", "generate", "--out", "x"], "certs"),
        (
            "injector.webhook.server",
            ["serve", "--tls-cert-file", "a.crt", "--port", "1"],
            "webhook",
        ),
    ],
)
def test_a_missing_extra_is_named(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    module: str,
    argv: list[str],
    extra: str,
) -> None:
    package, _, name = module.rpartition(".")
    monkeypatch.delattr(sys.modules[package], name, raising=False)
    monkeypatch.setitem(sys.modules, module, None)  # `import` raises ImportError, as uninstalled
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"needs the {extra} extra: pip install 'sidecar-injector[{extra}]'" in err
    assert err.count("\n") == 1


def test_ctrl_c_is_one_line_and_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Interrupted(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise KeyboardInterrupt

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(Interrupted())))
    assert main(["inject", "-f", "-"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_help_and_version_import_neither_the_core_nor_fastapi() -> None:
    # `injector --help` used to cost a FastAPI + pydantic import (~0.35 s) and the core.
    probe = (
        "import sys\n"
        "from injector.cli import main\n"
        "for argv in (['--help'], ['--version'], ['inject', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, exc.code\n"
        "heavy = ('fastapi', 'pydantic', 'injector.core', 'jinja2')\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"
    assert "injector 0.1.0" in proc.stdout


ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: canary}
spec:
  template:
    spec:
      containers: [{name: app, image: x}]
"""


def test_kinds_with_a_pod_template_that_we_pass_over_are_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "rollout.yaml", ROLLOUT)
    assert main(["check", "-f", str(source)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split(None, 3)
    assert row[:3] == ["1", "Rollout/canary", "-"]
    assert "kind Rollout is not injected" in row[3]
    assert main(["inject", "-f", str(source)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ROLLOUT
    assert "passed over Rollout/canary (document 1): kind Rollout is not injected" in captured.err


def test_several_inputs_and_directories(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    write(tmp_path, "dir/a.yaml", (ISTIO / "pod.yaml").read_text())
    write(tmp_path, "dir/notes.txt", "not a manifest")
    write(tmp_path, "dir/sub/b.yml", ROLLOUT)
    single = write(tmp_path, "c.yaml", (ISTIO / "hello.yaml").read_text())
    assert main(["check", "-f", str(tmp_path / "dir"), "-f", str(single)]) == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert [r[0] for r in rows] == [f"{tmp_path}/dir/a.yaml:1", f"{single}:1"]
    assert main(["check", "-R", "-f", str(tmp_path / "dir")]) == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows[-1] == [f"{tmp_path}/dir/sub/b.yml:1", "Rollout/canary", "-"]
    assert main(["inject", "-f", str(tmp_path / "dir"), "-f", str(single)]) == 0
    assert len(load_docs(capsys.readouterr().out)) == 2


def test_progress_on_a_terminal_for_long_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = iter(range(0, 10_000))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    source = write(tmp_path, "many.yaml", fifty_documents() + "---\n" + fifty_documents())
    assert main(["inject", "-f", str(source), "-o", str(tmp_path / "out.yaml")]) == 0
    err = capsys.readouterr().err
    assert "\r100 documents ..." in err  # after a second (one tick of this clock)
    assert err.endswith("\r\033[K")  # the line is cleared at the end
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert main(["inject", "-f", str(source), "-o", str(tmp_path / "out.yaml")]) == 0
    assert capsys.readouterr().err == ""


def test_make_demo_summarises_the_injection_instead_of_printing_the_yaml() -> None:
    demo = Path(__file__).resolve().parents[2] / "manifests" / "examples" / "demo.py"
    proc = subprocess.run(
        [sys.executable, str(demo)], capture_output=True, text=True, check=True, timeout=120
    )
    inject_part = proc.stdout.split("(summary)", 1)[1].split("== sidecar-init", 1)[0]
    assert (
        "Deployment/productpage-v1:\n  + initContainers: istio-init, istio-proxy\n" in inject_part
    )
    assert "apiVersion" not in inject_part and len(inject_part.splitlines()) < 20
    assert "`injector inject --diff -f bookinfo.yaml`: +" in inject_part
    assert "`injector inject | injector uninject`: the file back byte for byte" in inject_part


def _options(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _options(sub)
        elif action.option_strings:
            yield f"{parser.prog} {action.option_strings[0]}", action


def test_every_option_of_every_command_has_help() -> None:
    from certs.cli import _parser as certs_parser
    from injector.cli import _parser

    options = [*_options(_parser("serve")), *_options(certs_parser())]
    assert len(options) > 40
    assert [name for name, action in options if not action.help] == []
