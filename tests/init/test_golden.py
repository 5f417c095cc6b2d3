"""The rendered plan equals Istio's goldens (never refreshed) and our own (REFRESH_GOLDEN=1):
iptables-restore text for our cases, and the nftables ruleset for every case."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from init.plan import build_plans
from init.render_nft import to_nft_text
from init.render_restore import to_restore_text
from tests.init.cases import (
    ISTIO_DIR,
    NFT_DIR,
    OURS_DIR,
    Case,
    load_cases,
    restore_blocks,
    split_families,
)

ISTIO_CASES = load_cases(ISTIO_DIR)
OUR_CASES = load_cases(OURS_DIR)


def _render(case: Case, tmp_path: Path) -> str:
    return "".join(to_restore_text(plan) for plan in build_plans(case.config(tmp_path)))


def _diff(expected: str, actual: str) -> str:
    return "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True)))


def test_every_istio_golden_has_a_case() -> None:
    goldens = {p.stem for p in ISTIO_DIR.glob("*.golden")}
    assert goldens == {case.name for case in ISTIO_CASES}


@pytest.mark.parametrize("case", ISTIO_CASES, ids=lambda c: c.name)
def test_dry_run_text_matches_istio_golden(case: Case, tmp_path: Path) -> None:
    """Per family and table first (the clearer diff), then line for line."""
    expected = restore_blocks((ISTIO_DIR / f"{case.name}.golden").read_text())
    actual = _render(case, tmp_path)
    assert split_families(actual) == split_families(expected)
    assert actual == expected, _diff(expected, actual)


def test_every_own_golden_has_a_case() -> None:
    goldens = {p.stem for p in OURS_DIR.glob("*.restore")}
    assert goldens == {case.name for case in OUR_CASES}


@pytest.mark.parametrize("case", OUR_CASES, ids=lambda c: c.name)
def test_plan_matches_own_golden(case: Case, tmp_path: Path) -> None:
    _check_golden(OURS_DIR / f"{case.name}.restore", _render(case, tmp_path))


def _check_golden(path: Path, actual: str) -> None:
    if os.environ.get("REFRESH_GOLDEN") == "1":
        path.write_text(actual)
    assert path.read_text() == actual, _diff(path.read_text(), actual)


ALL_CASES = ISTIO_CASES + OUR_CASES


def test_every_nft_golden_has_a_case() -> None:
    assert {p.stem for p in NFT_DIR.glob("*.nft")} == {case.name for case in ALL_CASES}


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda c: c.name)
def test_nft_ruleset_matches_own_golden(case: Case, tmp_path: Path) -> None:
    actual = "".join(to_nft_text(plan) for plan in build_plans(case.config(tmp_path)))
    _check_golden(NFT_DIR / f"{case.name}.nft", actual)
