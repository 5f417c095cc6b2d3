"""``injector certs generate --force`` replaces files by rename: no write through links."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from certs import cli

NAMES = ("ca.crt", "tls.crt", "tls.key")


def generate(out: Path, *extra: str) -> int:
    return cli.main(["generate", "--out", str(out), *extra])


def test_force_replaces_a_symlinked_key_without_touching_its_target(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert generate(out) == 0
    elsewhere = tmp_path / "elsewhere.key"
    elsewhere.write_bytes(b"not ours")
    elsewhere.chmod(0o644)
    (out / "tls.key").unlink()
    (out / "tls.key").symlink_to(elsewhere)

    assert generate(out, "--force") == 0
    assert elsewhere.read_bytes() == b"not ours"
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644
    key = out / "tls.key"
    assert not key.is_symlink() and b"PRIVATE KEY" in key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_a_reader_of_the_old_key_keeps_the_old_key(tmp_path: Path) -> None:
    out = tmp_path / "certs"
    assert generate(out) == 0
    old = {name: (out / name).read_bytes() for name in NAMES}
    with (out / "tls.key").open("rb") as reader:
        assert generate(out, "--force") == 0
        assert reader.read() == old["tls.key"]
    for name in NAMES:
        assert (out / name).read_bytes() != old[name]
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)  # no temporary files left


def test_a_dangling_symlink_counts_as_existing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    out.mkdir()
    (out / "tls.key").symlink_to(tmp_path / "gone")
    assert generate(out) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert not (tmp_path / "gone").exists()


def test_a_target_that_is_a_directory_leaves_no_temporary_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    assert generate(out) == 0
    (out / "tls.key").unlink()
    (out / "tls.key").mkdir()
    assert generate(out, "--force") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot replace {out / 'tls.key'}: ") and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == sorted(NAMES)
