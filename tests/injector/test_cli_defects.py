"""``injector inject`` / ``check`` on input that used to break them (issue 18's defects 1-6).

Each test names the defect; each failed before its fix.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
import yaml

from injector.cli import main

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  containers:
  - name: web
    image: nginx
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def alias_bomb(indent: str, levels: int = 10) -> list[str]:
    """``levels`` lists of ten aliases to the one before: 10**levels nodes when expanded."""
    lines = [f'{indent}a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for n in range(1, levels):
        lines.append(f"{indent}a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]")
    return lines


# -- 1. alias bombs ---------------------------------------------------------------------


@pytest.mark.timeout(20)
def test_alias_bomb_in_a_document_we_do_not_change_passes_through_unexpanded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bomb = "\n".join(["apiVersion: v1", "kind: ConfigMap", "metadata: {name: b}", "data:"])
    bomb += "\n" + "\n".join(alias_bomb("  ")) + "\n"
    source = write(tmp_path, "in.yaml", bomb + "---\n" + POD)
    assert main(["inject", "-f", str(source)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(bomb)  # byte for byte, never expanded
    assert "istio-proxy" in out


@pytest.mark.timeout(20)
def test_alias_bomb_in_a_workload_is_refused_by_inject_and_marked_by_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["apiVersion: apps/v1", "kind: Deployment", "metadata: {name: bomb}", "spec:"]
    lines += ["  template:", "    metadata:", "      annotations:", *alias_bomb("        ")]
    lines += ["    spec:", "      containers:", "      - {name: app, image: x}"]
    source = write(tmp_path, "in.yaml", POD + "---\n" + "\n".join(lines) + "\n")
    assert main(["inject", "-f", str(source)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: document 2: excessive YAML aliasing")
    assert main(["check", "-f", str(source)]) == 1
    rows = [line.split(None, 3) for line in capsys.readouterr().out.splitlines()[1:]]
    assert [r[:3] for r in rows] == [["1", "Pod/web", "ns?"], ["2", "-", "error"]]
    assert "excessive YAML aliasing" in rows[1][3]


# -- 2. JSON in, JSON out ---------------------------------------------------------------


def test_json_documents_come_back_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = json.dumps(yaml.safe_load(POD), indent=4) + "\n"
    assert main(["inject", "-f", str(write(tmp_path, "pod.json", pod))]) == 0
    out = capsys.readouterr().out
    injected = json.loads(out)  # what kubectl does with input starting with `{`
    assert [c["name"] for c in injected["spec"]["initContainers"]] == [
        "istio-init",
        "istio-proxy",
    ]
    assert out.startswith('{\n    "apiVersion": "v1",')  # indented as it came


# -- 3. -o and what is at the path ------------------------------------------------------


def test_output_keeps_an_existing_files_mode(tmp_path: Path) -> None:
    out = write(tmp_path, "out.yaml", "old\n")
    out.chmod(0o644)
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(out)]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert "istio-proxy" in out.read_text()


def test_output_to_a_new_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        out = tmp_path / "new.yaml"
        assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o640


def test_output_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    target = write(tmp_path, "target.yaml", "old\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(target.name)
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(link)]) == 0
    assert link.is_symlink()
    assert "istio-proxy" in target.read_text()


def test_output_to_a_fifo_writes_through(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(fifo)]) == 0
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert b"istio-proxy" in received[0]


@pytest.mark.root
def test_output_to_a_device_is_written_not_replaced(tmp_path: Path) -> None:
    device = tmp_path / "null"  # our own /dev/null: a test must not risk the real one
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(device)]) == 0
    assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.yaml", "null"]


def test_output_errors_name_the_users_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "missing-dir" / "out.yaml"
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD)), "-o", str(out)]) == 1
    assert capsys.readouterr().err == f"error: {out}: No such file or directory\n"


# -- 4. input that is not text, keys that are not strings -------------------------------


def test_non_utf8_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "latin1.yaml", POD.encode() + b"# caf\xe9\n")
    assert main(["inject", "-f", str(source)]) == 1
    err = capsys.readouterr().err
    offset = len(POD) + len("# caf")
    assert err == f"error: {source}: not UTF-8 text: byte 0xe9 at line 9 (offset {offset})\n"


@pytest.mark.parametrize(
    ("text", "line", "offset"),
    [(POD.encode() + b"# \0\n", 9, len(POD) + 2), (b"\0" * 2**20, 1, 0)],
    ids=["nul-in-a-comment", "a-mebibyte-of-nul-without-a-line-break"],
)
def test_a_nul_byte_is_a_one_line_error_as_soon_as_it_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: bytes, line: int, offset: int
) -> None:
    source = write(tmp_path, "zero.yaml", text)
    assert main(["inject", "-f", str(source)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {source}: not text: a NUL byte at line {line} (offset {offset})\n"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    1: one\n", "document 1 (Pod/web): spec.containers[0]: key 1 is not a string"),
        ("    {{cell}}: x\n", "document 1: line 9, column 5: found unhashable key"),
    ],
)
def test_keys_that_are_not_strings_are_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str, message: str
) -> None:
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", POD + extra))]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def nested_pod(depth: int, json_form: bool) -> str:
    value = "[" * depth + "]" * depth
    if json_form:
        return (
            '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": '
            f'{{"containers": [{{"name": "web", "image": "nginx", "args": {value}}}]}}}}\n'
        )
    return POD + f"    args: {value}\n"


@pytest.mark.parametrize(
    ("command", "depth", "json_form", "message"),
    [
        ("inject", 900, False, "document 1 (Pod/web): spec.containers[0].args[0][0]"),
        ("inject", 900, True, "document 1 (Pod/web): spec.containers[0].args[0][0]"),
        ("uninject", 900, False, "document 1 (Pod/web): spec.containers[0].args[0][0]"),
        ("inject", 5000, True, "document 1: JSON nested too deeply"),
    ],
)
def test_a_pod_nested_too_deep_is_a_one_line_error(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
    depth: int,
    json_form: bool,
    message: str,
) -> None:
    source = write(tmp_path, "in.yaml", nested_pod(depth, json_form))
    out = tmp_path / "out.yaml"
    assert main([command, "-f", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1
    assert "nested" in err and not out.exists()


DUPLICATE_ANNOTATIONS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    metadata:
      annotations:
        sidecar.istio.io/proxyCPU: 300m
      annotations:
        sidecar.istio.io/proxyCPU: 500m
    spec:
      containers:
      - name: web
        image: nginx
"""


def test_a_repeated_key_is_a_one_line_error_not_an_edit_of_the_shadowed_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write(tmp_path, "in.yaml", DUPLICATE_ANNOTATIONS + "---\n" + POD)
    out = tmp_path / "out.yaml"
    assert main(["inject", "-f", str(source), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == "error: document 1: line 10: duplicate key 'annotations' (first at line 8)\n"
    assert not out.exists()


def test_a_repeated_merge_key_is_a_one_line_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = POD.replace("    image: nginx\n", "    <<: {image: nginx}\n    <<: {tty: true}\n")
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", text))]) == 1
    err = capsys.readouterr().err
    assert err == "error: document 1: line 9: duplicate key '<<' (first at line 8)\n"


def test_one_merge_key_with_a_list_of_mappings_still_works(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = POD.replace("    image: nginx\n", "    <<: [{image: nginx}, {tty: true}]\n")
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", text))]) == 0
    assert "istio-proxy" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("mesh", "message"),
    [
        ("defaultConfig: 1\n", "defaultConfig: expected dict, got 1"),
        ("extensionProviders: {}\n", "extensionProviders: expected list, got {}"),
        ("outboundTrafficPolicy: ALLOW_ANY\n", "outboundTrafficPolicy: expected dict"),
    ],
)
def test_a_mesh_field_of_the_wrong_type_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mesh: str, message: str
) -> None:
    source = write(tmp_path, "in.yaml", POD)
    mesh_file = write(tmp_path, "mesh.yaml", mesh)
    assert main(["inject", "-f", str(source), "--mesh", str(mesh_file)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {mesh_file}: {message}") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("aliases: 1\n", "aliases: expected a mapping"),
        ("aliases: {both: sidecar}\n", "aliases.both: expected a list, got 'sidecar'"),
        ("neverInjectSelector: 1\n", "neverInjectSelector: expected a list"),
        (
            "neverInjectSelector: [{matchExpressions: 1}]\n",
            "neverInjectSelector[0]: matchExpressions must be a list",
        ),
        (
            "neverInjectSelector: [{matchExpressions: [{operator: Exists}]}]\n",
            "needs a key",
        ),
        (
            "neverInjectSelector: [{matchExpressions: [{key: app, operator: In, values: web}]}]\n",
            "matchExpressions values must be a list of strings",
        ),
        ("injectedAnnotations: 1\n", "injectedAnnotations: expected a mapping"),
        (
            "templates: {sidecar: 'spec: {volumes: 1}'}\n",
            "template 'sidecar' renders a bad partial pod: pod spec.volumes must be a list",
        ),
        (
            "templates: {sidecar: 'spec: [1]'}\n",
            "template 'sidecar' renders a bad partial pod: pod spec must be an object",
        ),
        (
            "templates: {sidecar: 'metadata: {annotations: 1}'}\n",
            "template 'sidecar' renders a bad partial pod: pod metadata.annotations must be",
        ),
    ],
)
def test_an_injector_config_of_the_wrong_shape_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: str, message: str
) -> None:
    source = write(tmp_path, "in.yaml", POD)
    config_file = write(tmp_path, "config.yaml", config)
    out = tmp_path / "out.yaml"
    assert main(["inject", "-f", str(source), "--config", str(config_file), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


# -- 5. formatting of changed documents -------------------------------------------------

HELM = """\
apiVersion: v1
kind: Pod
metadata:
  name: helm
spec:
  containers:
  - name: app
    image: "x"
    ports:
      - containerPort: 8080
    resources:
      limits: null
      requests: ~
    args: [ "a",  'b' ]
"""


def test_untouched_lines_of_a_changed_document_stay_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inject", "-f", str(write(tmp_path, "in.yaml", HELM))]) == 0
    out = capsys.readouterr().out
    kept = [line for line in out.splitlines() if not line.startswith("  initContainers")]
    for line in HELM.splitlines():
        assert line in kept
    assert "      - containerPort: 8080\n    resources:\n      limits: null\n" in out
    assert yaml.safe_load(out)["spec"]["containers"][0]["resources"] == {
        "limits": None,
        "requests": None,
    }


def test_crlf_files_stay_crlf_in_changed_and_untouched_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"
    text = (POD + "---\n" + service).replace("\n", "\r\n")
    source = write(tmp_path, "crlf.yaml", text.encode())
    out = tmp_path / "out.yaml"
    assert main(["inject", "-f", str(source), "-o", str(out)]) == 0
    data = out.read_bytes()
    assert data.count(b"\n") == data.count(b"\r\n") > 100
    assert data.endswith(("---\r\n" + service.replace("\n", "\r\n")).encode())


# -- 6. document numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    ["---\n", "# Source: chart/templates/a.yaml\n---\n", "# a comment header\n\n---\n"],
)
def test_document_numbers_count_documents_not_separators(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], header: str
) -> None:
    bad = POD.replace(
        "name: web\n", "name: bad\n  annotations: {status.sidecar.istio.io/port: x}\n", 1
    )
    source = write(tmp_path, "in.yaml", header + POD + "---\n" + bad)
    assert main(["inject", "-f", str(source)]) == 1
    assert capsys.readouterr().err.startswith("error: document 2 (Pod/bad): invalid annotations")
    assert main(["check", "-f", str(source)]) == 1
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [["1", "Pod/web", "ns?"], ["2", "-", "error"]]


def test_a_byte_order_mark_is_dropped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write(tmp_path, "bom.yaml", b"\xef\xbb\xbf" + POD.encode())
    assert main(["inject", "-f", str(source)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("apiVersion: v1\n") and "istio-proxy" in out


def test_check_says_yes_only_when_the_pod_label_opts_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    labelled = POD.replace(
        "  name: web\n", "  name: web\n  labels: {sidecar.istio.io/inject: 'true'}\n", 1
    )
    assert main(["check", "-f", str(write(tmp_path, "in.yaml", labelled))]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:3] == ["1", "Pod/web", "yes"]
