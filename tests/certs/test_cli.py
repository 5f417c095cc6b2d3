"""``injector certs generate`` / ``status`` (``certs.cli.main``)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from certs import cli, generate
from certs.manager import CertManager
from certs.tls import ServingContext
from tests.certs.serving import client_context, get, handshake, https_connection, run_server
from tests.certs.test_manager import NS, SETTINGS
from tests.fakekube import MWCS, FakeKube, webhook_config


def test_generate_writes_files_that_ssl_and_uvicorn_accept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    args = ["generate", "--out", str(out), "--service", "inj", "--namespace", "ns"]
    assert cli.main([*args, "--dns-name", "inj.example.com", "--leaf-days", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert stat.S_IMODE((out / "tls.key").stat().st_mode) == 0o600

    holder = ServingContext()
    info = holder.load_pem((out / "tls.crt").read_bytes(), (out / "tls.key").read_bytes())
    assert {"localhost", "inj.ns.svc", "inj.example.com"} <= set(info.dns_names)
    assert info.ip_addresses == ("127.0.0.1",)
    assert timedelta(days=1.9) < info.not_after - info.not_before <= timedelta(days=2, minutes=5)
    ctx = client_context((out / "ca.crt").read_bytes())
    with run_server(holder) as port:
        conn = https_connection(port, ctx)  # verifies 127.0.0.1
        assert get(conn) == (200, b"ok")
        conn.close()
        for name in ("localhost", "inj.ns.svc", "inj.ns.svc.cluster.local"):
            handshake(port, ctx, name).close()

    assert cli.main(["generate", "--out", str(out)]) == 1, "no silent overwrite"
    assert "refusing to overwrite" in capsys.readouterr().err
    assert cli.main(["status", "--cert-dir", str(out)]) == 0
    assert "ca.crt trusts the leaf: yes" in capsys.readouterr().out


def test_status_cert_dir_flags_a_leaf_from_another_ca(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for d in ("a", "b"):
        assert cli.main(["generate", "--out", str(tmp_path / d)]) == 0
    (tmp_path / "a" / "tls.crt").write_bytes((tmp_path / "b" / "tls.crt").read_bytes())
    assert cli.main(["status", "--cert-dir", str(tmp_path / "a")]) == 1
    captured = capsys.readouterr()
    assert "ca.crt trusts the leaf: NO" in captured.out
    assert "not signed by a CA in ca.crt" in captured.err


def test_generate_takes_the_serve_spelling_of_service(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert (
        cli.main(["generate", "--out", str(out), "--service-name", "inj", "--namespace", "ns"]) == 0
    )
    leaf = generate.load_cert((out / "tls.crt").read_bytes())
    assert "inj.ns.svc" in generate.cert_info(leaf).dns_names


def test_status_cert_dir_names_expired_cas_and_leaf(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    assert cli.main(["generate", "--out", str(out)]) == 0
    now = generate.utcnow()
    old = generate.make_ca(now - timedelta(days=10), timedelta(days=5))
    (out / "ca.crt").write_bytes((out / "ca.crt").read_bytes() + old.cert_pem)
    capsys.readouterr()
    assert cli.main(["status", "--cert-dir", str(out)]) == 1
    captured = capsys.readouterr()
    assert "ca.crt trusts the leaf: yes" in captured.out  # the leaf itself is fine
    expired_ca = f"problem: the CA in ca.crt with serial {old.cert.serial_number:x} ("
    assert expired_ca in captured.err and "has expired" in captured.err
    assert captured.err.count("problem:") == 1

    leaf = generate.make_leaf(old, now - timedelta(days=9), timedelta(days=1), ["x.svc"])
    (out / "ca.crt").write_bytes(old.cert_pem)
    (out / "tls.crt").write_bytes(leaf.cert_pem)
    assert cli.main(["status", "--cert-dir", str(out)]) == 1
    err = capsys.readouterr().err
    assert expired_ca in err
    assert f"the leaf in tls.crt (serial {leaf.cert.serial_number:x}) has expired" in err


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["generate"], 2, "--out"),
        (["generate", "--out", "x", "--ca-days", "0"], 2, "positive"),
        (["nope"], 2, "invalid choice"),
        (
            ["status", "--cert-dir", "/nonexistent-dir"],
            1,
            "error: /nonexistent-dir/ca.crt: No such file or directory",
        ),
    ],
)
def test_bad_usage_and_errors_are_one_line_no_traceback(
    argv: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Iterator[tuple[FakeKube, Path]]:
    with FakeKube() as fake:
        fake.put(MWCS, webhook_config("injector", ["sidecar.example.io"]))
        path = tmp_path / "kubeconfig"
        path.write_text(
            f"""apiVersion: v1
kind: Config
clusters: [{{name: fake, cluster: {{server: "{fake.url}"}}}}]
users: [{{name: me, user: {{}}}}]
contexts: [{{name: fake, context: {{cluster: fake, user: me}}}}]
current-context: fake
"""
        )
        yield fake, path


def test_status_against_the_cluster(
    kubeconfig: tuple[FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, path = kubeconfig
    base = ["status", "--kubeconfig", str(path), "--namespace", NS]
    base += ["--secret", SETTINGS.secret_name, "--webhook-config", "injector"]
    assert cli.main(base) == 1
    assert "CA Secret mesh-system/injector-webhook-ca not found" in capsys.readouterr().err

    holder = ServingContext()
    manager = CertManager(SETTINGS, fake.api_client(), holder)
    manager.reconcile_now()
    with run_server(holder) as port:
        assert cli.main([*base, "--endpoint", f"127.0.0.1:{port}"]) == 0
    out = capsys.readouterr().out
    assert "CA: serial" in out and "expires in 30.0 days" in out
    assert "trusts the active CA: yes" in out
    assert "leaf: serial" in out and "expires in 7.0 days" in out
    assert f"caBundle trusts the leaf served by 127.0.0.1:{port}: yes" in out

    fake.put(MWCS, webhook_config("injector", ["sidecar.example.io"]))  # caBundle clobbered
    assert cli.main(base) == 1
    captured = capsys.readouterr()
    assert "trusts the active CA: NO" in captured.out
    assert "does not trust the active CA" in captured.err

    fake.deny("get", "secrets")
    assert cli.main(base) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: forbidden: cannot `get` secrets `injector-webhook-ca`")
    assert err.count("\n") == 1


def test_status_takes_serve_spellings_and_reports_a_missing_webhook_configuration(
    kubeconfig: tuple[FakeKube, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    fake, path = kubeconfig
    CertManager(SETTINGS, fake.api_client(), ServingContext()).reconcile_now()
    base = ["status", "--kubeconfig", str(path), "--namespace", NS]
    base += ["--secret-name", SETTINGS.secret_name]  # the defaults name nothing in the fake
    assert cli.main([*base, "--webhook-config-name", "injector"]) == 0
    assert "trusts the active CA: yes" in capsys.readouterr().out

    fake.delete(MWCS, "injector")
    assert cli.main([*base, "--webhook-config", "injector"]) == 1
    captured = capsys.readouterr()
    assert "CA: serial" in captured.out and "CA(s)" not in captured.out
    assert captured.err == "problem: MutatingWebhookConfiguration `injector` not found\n"
