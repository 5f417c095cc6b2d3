"""Flags, environment precedence and config validation (no root needed)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from init.config import build_config, parse_duration
from init.errors import ConfigError
from init.flags import FLAGS, _build_parser, fast_parse, parse_flags
from init.plan import build_plan
from init.render import to_restore_text
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


@pytest.mark.parametrize("flag", ["--native-nftables", "--cni-mode"])
def test_unsupported_modes_are_refused_not_ignored(flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        _config([flag])


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5.0), ("1m30s", 90.0), ("250ms", 0.25), ("0", 0.0)]
)
def test_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_names_flag() -> None:
    with pytest.raises(ConfigError, match="--probe-timeout='5 sec'"):
        _config(["--probe-timeout", "5 sec"])


@pytest.mark.parametrize("columns", ["100", "50", ""])
def test_help_width_is_argparse_default(monkeypatch: pytest.MonkeyPatch, columns: str) -> None:
    """The parser skips shutil for the terminal width; --help must wrap exactly as before."""
    import argparse

    from init.flags import _build_parser

    monkeypatch.setenv("COLUMNS", columns)
    ours = _build_parser()._get_formatter()
    default = argparse.HelpFormatter("sidecar-init")
    assert (ours._width, ours._max_help_position) == (default._width, default._max_help_position)


_OPTIONS = sorted({f"--{s.long}" for s in FLAGS} | {f"-{s.short}" for s in FLAGS if s.short})
_WORDS = st.one_of(
    st.sampled_from(_OPTIONS),
    st.builds(
        lambda o, v: f"{o}={v}", st.sampled_from(_OPTIONS), st.sampled_from(["", "1", "a=b"])
    ),
    st.builds(
        lambda o, v: o + v,
        st.sampled_from(["-p", "-n", "-x", "--"]),
        st.sampled_from(["15", "a=b"]),
    ),
    st.sampled_from(["", "15001", "*", "true", "false", "-1", "-", "--", "a b", "-h", "--no-such"]),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_WORDS, max_size=6))
def test_fast_path_agrees_with_argparse(words: list[str]) -> None:
    """Whatever the fast path accepts, argparse parses to the same values; it refuses the rest."""
    fast = fast_parse(words)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # -h prints the help, then exits
            namespace = _build_parser().parse_args(words)
        full = {k: v for k, v in vars(namespace).items() if v is not None}
    except (ConfigError, SystemExit):
        assert fast is None
        return
    if fast is not None:
        assert fast == full


def test_fast_path_takes_the_injected_arguments() -> None:
    """The injected init container's words never pay for argparse."""
    assert fast_parse(list(INJECTED[1:])) == {
        "envoy_port": "15001", "inbound_capture_port": "15006", "proxy_uid": "1337",
        "istio_inbound_interception_mode": "REDIRECT", "istio_service_cidr": "*",
        "istio_service_exclude_cidr": "", "istio_inbound_ports": "*",
        "istio_local_exclude_ports": "15090,15021,15020",
    }  # fmt: skip


def test_entry_exits_at_once_with_output_flushed_and_the_exit_code(tmp_path: Path) -> None:
    """``python -m init`` (the console script's ``entry``) skips interpreter shutdown: the
    dry-run text must still reach a fully buffered file whole, and codes must survive."""
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
