"""Golden cases (Istio's and ours): reading ``cases.tsv`` and turning a case into a config."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from init.config import CaptureConfig, build_config
from init.flags import parse_flags

TESTDATA = Path(__file__).resolve().parent.parent / "testdata" / "iptables"
ISTIO_DIR = TESTDATA / "istio"
OURS_DIR = TESTDATA / "ours"
NFT_DIR = TESTDATA / "nft"
BASE_ARGS = ("-p", "15001", "-z", "15006", "-e", "15008", "-u", "1337", "-g", "1337")


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]
    env: dict[str, str]
    dns_v4: str | None
    dns_v6: str | None
    ipv6: str

    def argv(self, resolv_conf: Path) -> list[str]:
        # Flags given later win in argparse, so a case's flags override the base.
        return [*BASE_ARGS, *self.args, "--resolv-conf", str(resolv_conf), "--ipv6", self.ipv6]

    def config(self, tmp_path: Path) -> CaptureConfig:
        resolv = tmp_path / "resolv.conf"
        resolv.write_text("".join(f"nameserver {s}\n" for s in (self.dns_v4, self.dns_v6) if s))
        # --dry-run: names (the ``ftp`` group of two Istio cases) need not exist here.
        argv = [*self.argv(resolv), "--dry-run"]
        capture, _ = build_config(parse_flags(argv, self.env), self.env)
        return capture


def _field(text: str) -> str | None:
    return None if text == "-" else text


def _env(text: str) -> dict[str, str]:
    if text == "-":
        return {}
    return dict(item.split("=", 1) for item in text.split(";"))


def load_cases(directory: Path) -> list[Case]:
    cases = []
    for line in (directory / "cases.tsv").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, flags, env, dns_v4, dns_v6, ipv6 = line.split("\t")
        args = tuple(shlex.split(flags)) if flags != "-" else ()
        cases.append(Case(name, args, _env(env), _field(dns_v4), _field(dns_v6), ipv6))
    return cases


def restore_blocks(golden_text: str) -> str:
    """The restore input inside an Istio golden transcript (the ``*-save`` lines dropped)."""
    lines = [line for line in golden_text.splitlines() if not line.endswith("tables-save")]
    return "\n".join(lines) + "\n"


def split_families(restore_text: str) -> list[dict[str, list[str]]]:
    """Parse restore text into families (a table name not after the previous one starts the
    next family) of table -> ordered lines."""
    families: list[dict[str, list[str]]] = []
    table = ""
    for line in restore_text.splitlines():
        if line.startswith("*"):
            name = line[1:].strip()
            if not families or name <= table:
                families.append({})
            table = name
            families[-1][table] = []
        elif line and line != "COMMIT":
            families[-1][table].append(line)
    return families
