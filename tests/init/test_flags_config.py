"""Flags, environment precedence and config validation (no root needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from init.config import build_config
from init.errors import ConfigError
from init.flags import FLAGS, parse_flags
from init.plan import build_plan
from init.render_restore import to_restore_text
from init.values import parse_duration
from tests.init.rootutil import INJECTED, ROOT


def _config(argv: list[str], env: dict[str, str] | None = None, ipv6: bool = False):  # type: ignore[no-untyped-def]
    environ = env or {}
    return build_config(parse_flags(argv, environ), environ, detect_ipv6=lambda _dual: ipv6)


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        ([], {}, 15006),  # default
        ([], {"INBOUND_CAPTURE_PORT": "16006"}, 16006),  # env beats default
        (["-z", "17006"], {"INBOUND_CAPTURE_PORT": "16006"}, 17006),  # flag beats env
        (["--inbound-capture-port=18006"], {}, 18006),  # long form with '='
        (["istio-iptables", "-z", "19006"], {}, 19006),  # leading word accepted
    ],
)
def test_precedence_flag_env_default(argv: list[str], env: dict[str, str], expected: int) -> None:
    capture, _ = _config(argv, env)
    assert capture.inbound_capture_port == expected


def test_envoy_port_has_no_environment_binding() -> None:
    capture, _ = _config([], {"ENVOY_PORT": "9999"})
    assert capture.proxy_port == 15001


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"REDIRECT_DNS": "true"}, True),
        ({"ISTIO_META_DNS_CAPTURE": "true"}, True),
        ({"REDIRECT_DNS": "false", "ISTIO_META_DNS_CAPTURE": "true"}, False),
        ({}, False),
    ],
)
def test_redirect_dns_env_aliases(env: dict[str, str], expected: bool, tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 10.96.0.10\n")
    capture, _ = _config(["--resolv-conf", str(resolv)], env)
    assert capture.redirect_dns is expected


def test_bool_flag_forms() -> None:
    assert _config(["--drop-invalid"])[0].drop_invalid
    assert not _config(["--drop-invalid=false"], {"DROP_INVALID": "true"})[0].drop_invalid
    assert _config([], {"INVALID_DROP": "1"})[0].drop_invalid


@pytest.mark.parametrize("form", ["short", "long"])
def test_every_short_and_long_flag_is_accepted(form: str) -> None:
    """Every flag in that form (all have a long one) gets its own value; bools given bare."""
    specs = [spec for spec in FLAGS if spec.short or form == "long"]
    argv: list[str] = []
    for spec in specs:
        option = f"-{spec.short}" if form == "short" else f"--{spec.long}"
        argv += [option] if spec.is_bool else [option, f"v-{spec.dest}"]
    values = parse_flags(argv, {})
    if form == "short":  # istio-iptables' short flags, all of them
        assert {spec.short for spec in specs} == set("pzeugmbdcixqoktrn")
    for spec in specs:
        assert values.values[spec.dest] == (True if spec.is_bool else f"v-{spec.dest}"), spec.long
        assert values.source(spec.dest) == f"--{spec.long}"


def test_unknown_flag_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--no-such-flag"):
        parse_flags(["--no-such-flag", "1"], {})


def test_errors_name_flag_and_value_and_are_reported_together() -> None:
    env = {"ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR": "10.0.0.1/32"}
    argv = ["-p", "0", "-b", "80,http", "-x", "*", "-i", "10.0.0.0/99", "-m", "tproxy", "-c", "a/b"]
    with pytest.raises(ConfigError) as info:
        _config(argv, env)
    message = str(info.value)
    for fragment in (
        "--envoy-port='0'",
        "--istio-inbound-ports='http'",
        "--istio-service-exclude-cidr='*'",
        "--istio-service-cidr='10.0.0.0/99'",
        "--istio-inbound-interception-mode='tproxy'",
        "--istio-exclude-interfaces='a/b'",
        "$ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR='10.0.0.1/32'",
    ):
        assert fragment in message
    assert "\n" not in message


def test_env_sourced_error_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"\$ISTIO_INBOUND_PORTS='99999'"):
        _config([], {"ISTIO_INBOUND_PORTS": "99999"})


@pytest.mark.parametrize("cidr", ["127.0.0.1/7", "127.0.0.1/33", "::1/128", "nope"])
def test_loopback_cidr_must_be_v4_loopback_8_to_32(cidr: str) -> None:
    with pytest.raises(ConfigError, match="ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR"):
        _config([], {"ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR": cidr})


def test_owner_groups_limit_and_empty() -> None:
    many = ",".join(str(g) for g in range(65))
    with pytest.raises(ConfigError, match="more than 64"):
        _config([], {"ISTIO_OUTBOUND_OWNER_GROUPS": many})
    with pytest.raises(ConfigError, match="ISTIO_OUTBOUND_OWNER_GROUPS"):
        _config([], {"ISTIO_OUTBOUND_OWNER_GROUPS": ""})


def test_cidrs_split_per_family_and_wildcard() -> None:
    capture, _ = _config(["-i", "10.0.0.0/8, 2001:db8::/32", "-x", "192.168.0.1"])
    assert capture.outbound_include.v4 == ("10.0.0.0/8",)
    assert capture.outbound_include.v6 == ("2001:db8::/32",)
    assert capture.outbound_exclude.v4 == ("192.168.0.1/32",)
    assert _config(["-i", "*"])[0].outbound_include.wildcard


def test_proxy_gid_defaults_to_uid() -> None:
    capture, _ = _config(["-u", "3,4"])
    assert capture.proxy_gids == ("3", "4")


def test_dns_without_nameservers_turns_capture_off(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search cluster.local\n")
    capture, _ = _config(["--redirect-dns", "--resolv-conf", str(resolv)])
    assert not capture.redirect_dns


def test_unreadable_resolv_conf_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--resolv-conf"):
        _config(["--redirect-dns", "--resolv-conf", str(tmp_path / "missing")])


def test_ipv6_flag_overrides_detection() -> None:
    assert _config(["--ipv6", "on"], ipv6=False)[0].ipv6
    assert not _config(["--ipv6", "off"], ipv6=True)[0].ipv6
    assert _config([], ipv6=True)[0].ipv6


def test_cni_mode_is_refused_not_ignored() -> None:
    with pytest.raises(ConfigError, match="--cni-mode"):
        _config(["--cni-mode"])


def test_native_nftables_selects_the_nft_backend() -> None:
    assert _config(["--native-nftables"])[1].backend == "nft"
    assert _config([], {"NATIVE_NFTABLES": "true"})[1].backend == "nft"
    with pytest.raises(ConfigError, match="conflicts with --native-nftables"):
        _config(["--native-nftables", "--backend", "iptc"])


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("1m30s", 90.0), ("250ms", 0.25), ("0", 0.0)]
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_names_flag() -> None:
    with pytest.raises(ConfigError, match="--probe-timeout='5 sec'"):
        _config(["--probe-timeout", "5 sec"])


def test_entry_writes_the_whole_dry_run_and_keeps_the_exit_code(tmp_path: Path) -> None:
    """``python -m init`` (the console script's ``entry``): the dry-run text reaches a fully
    buffered file whole, and exit codes survive."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        done = subprocess.run(
            [sys.executable, "-m", "init", *INJECTED, "--ipv6", "off", "--dry-run"],
            stdout=handle, stderr=subprocess.PIPE, text=True, env=env, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = to_restore_text(build_plan(_config([*INJECTED[1:], "--ipv6", "off"])[0], 4))
    assert out.read_text() == expected
    bad = subprocess.run(
        [sys.executable, "-m", "init", "-p", "0"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "--envoy-port='0'" in bad.stderr


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "init", *argv], capture_output=True, text=True, env=env, timeout=60
    )


def test_unknown_user_is_refused_with_exit_2_before_anything_is_applied() -> None:
    """Not root-only: the names are checked before a backend is even chosen."""
    done = _run("-u", "no-such-user-sidecar-init", "--ipv6", "off", "--backend", "nft")
    assert done.returncode == 2, done.stderr
    assert "--proxy-uid='no-such-user-sidecar-init': no such user" in done.stderr
    assert "b'" not in done.stderr and "Error:" not in done.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["-p", "0"],
        ["--no-such-flag"],
        ["--ipv6", "maybe"],
        ["--dry-run=perhaps"],
        ["-b", "²"],
        ["-u", "²"],
        ["--log_target", "/nonexistent/dir/log"],
        ["--log_output_level", "loud"],
        ["-c=-eth0"],
        ["-i", "fe80::1%eth0/64"],
        ["-x", "10.0.0.0/8,fe80::1%eth0"],
    ],
)
def test_bad_values_exit_2_with_one_line_and_no_class_name(argv: list[str]) -> None:
    done = _run(*argv, "--dry-run") if argv[0] != "--dry-run=perhaps" else _run(*argv)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("sidecar-init: ") and done.stderr.count("\n") == 1
    assert "Error" not in done.stderr and "Traceback" not in done.stderr


def test_unwritable_dry_run_file_is_exit_2_naming_the_variable() -> None:
    done = _run("--dry-run", env={"DRY_RUN_FILE_PATH": "/nonexistent/dir/rules"})
    assert done.returncode == 2, done.stderr
    assert "$DRY_RUN_FILE_PATH='/nonexistent/dir/rules': cannot write" in done.stderr


def test_help_has_a_description_exit_codes_environment_and_help_for_every_flag() -> None:
    done = _run("--help")
    assert done.returncode == 0
    for fragment in ("traffic capture rules", "exit codes:", "126", "environment:",
                     "XTABLES_LOCKFILE", "DRY_RUN_FILE_PATH"):  # fmt: skip
        assert fragment in done.stdout
    assert all(spec.help for spec in FLAGS)
    assert all(f"--{spec.long}" in done.stdout for spec in FLAGS)
    # Every variable a flag reads is named, unless it is the flag's own name upper-cased.
    assert all(
        env in done.stdout
        for spec in FLAGS
        for env in spec.env_names
        if env != spec.long.upper().replace("-", "_")
    )


def test_version_names_the_program() -> None:
    done = _run("--version")
    assert done.returncode == 0 and done.stdout.startswith("sidecar-init ")


def _injected_init_args(values: str) -> list[str]:
    from injector.config import load_config
    from injector.core import Injected, Injector

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "app", "namespace": "demo"},
           "spec": {"containers": [{"name": "app", "image": "nginx"}]}}  # fmt: skip
    outcome = Injector(load_config(None, values, None)).inject(pod)
    assert isinstance(outcome, Injected)
    init = {c["name"]: c for c in outcome.pod["spec"]["initContainers"]}["istio-init"]
    args: list[str] = init["args"]
    return args


def test_values_native_nftables_reach_the_nft_backend() -> None:
    """``global.nativeNftables: true`` in the Istio values: the injected istio-init carries
    ``--native-nftables``, which sidecar-init accepts and turns into its nftables backend."""
    args = _injected_init_args("global:\n  nativeNftables: true\n")
    assert "--native-nftables" in args
    _, options = build_config(parse_flags(args, {}), {}, detect_ipv6=lambda _dual: False)
    assert options.backend == "nft"
    plain = _injected_init_args("global:\n  nativeNftables: false\n")
    assert (
        build_config(parse_flags(plain, {}), {}, detect_ipv6=lambda _: False)[1].backend == "auto"
    )


def test_resolv_conf_that_is_a_device_is_refused_not_read_forever() -> None:
    with pytest.raises(ConfigError, match="--resolv-conf='/dev/zero': cannot read: larger than"):
        _config(["--redirect-dns", "--resolv-conf", "/dev/zero"])


def test_dry_run_with_the_nft_backend_prints_the_nftables_ruleset() -> None:
    done = _run(*INJECTED, "--ipv6", "off", "--dry-run", "--backend", "nft")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("table ip istio-proxy-nat {")
    assert "redirect to :15006" in done.stdout
