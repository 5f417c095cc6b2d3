"""A reload proves the new config on canary pods; broken or vanished config files keep the old."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from injector.errors import ConfigError
from injector.webhook.app import WebhookState, _readiness
from injector.webhook.metrics import Metrics
from injector.webhook.reload import ConfigFiles, ConfigReloader, ConfigState, load_state

# Compiles, but every render fails (from_json of text that is not JSON).
RENDER_FAILS = "{{ from_json('not json') }}\n"
EMPTY = "# nothing to inject\n"


def started(directory: Path) -> tuple[ConfigState, ConfigReloader]:
    (directory / "values").write_text("global:\n  hub: hub.one\n")
    files = ConfigFiles(directory)
    state = load_state(files)
    return state, ConfigReloader(files, state, interval=0.01)


def metric(state: ConfigState, result: str) -> float:
    text = Metrics(state).render().decode()
    line = f'sidecar_injector_config_reload_total{{result="{result}"}}'
    return float(next(x for x in text.splitlines() if x.startswith(line)).rsplit(" ", 1)[1])


@pytest.mark.parametrize("template", [RENDER_FAILS, EMPTY], ids=["render-fails", "empty"])
def test_a_template_that_cannot_inject_is_not_swapped_in(
    tmp_path: Path, template: str, caplog: pytest.LogCaptureFixture
) -> None:
    state, reloader = started(tmp_path)
    live = state.injector
    (tmp_path / "sidecar.yaml.j2").write_text(template)
    with caplog.at_level(logging.ERROR, "injector.webhook.reload"):
        assert asyncio.run(reloader.check()) is False
    assert state.injector is live and state.generation == 1
    assert "canary pod canary-minimal" in (state.last_error or "")
    assert metric(state, "failure") == 1
    assert any("keeping the previous config" in r.getMessage() for r in caplog.records)
    ready, body = _readiness(WebhookState(state, Metrics(state)))
    assert ready  # the previous config still serves
    assert body["config"]["last_error"] == state.last_error
    assert body["warnings"] == [f"config reload rejected: {state.last_error}"]
    outcome = state.injector.inject(
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "a"}]}}
    )
    assert outcome.injected


def test_a_broken_template_at_start_up_stops_the_server(tmp_path: Path) -> None:
    (tmp_path / "sidecar.yaml.j2").write_text(RENDER_FAILS)
    with pytest.raises(ConfigError, match="canary pod canary-minimal with default templates"):
        load_state(ConfigFiles(tmp_path))


def test_a_dir_whose_files_all_vanish_keeps_the_config(tmp_path: Path) -> None:
    state, reloader = started(tmp_path)
    (tmp_path / "values").unlink()
    assert asyncio.run(reloader.check()) is False
    assert "has no config files any more" in (state.last_error or "")
    assert state.config.values["global"]["hub"] == "hub.one"


def test_a_non_utf8_file_is_reported_by_name(tmp_path: Path) -> None:
    state, reloader = started(tmp_path)
    (tmp_path / "mesh").write_bytes(b"trustDomain: caf\xe9.example\n")
    assert asyncio.run(reloader.check()) is False
    assert state.last_error == (
        f"{tmp_path / 'mesh'}: not UTF-8 text (byte 0xe9 at offset 16, line 1)"
    )


@pytest.mark.parametrize(
    ("mesh", "key"),
    [
        ("proxyListenPort: 70000\n", "proxyListenPort"),
        ("proxyInboundListenPort: 0\n", "proxyInboundListenPort"),
        ("defaultConfig:\n  statusPort: 65536\n", "statusPort"),
        ("defaultConfig:\n  proxyAdminPort: -1\n", "proxyAdminPort"),
    ],
)
def test_mesh_ports_out_of_range_are_rejected(tmp_path: Path, mesh: str, key: str) -> None:
    state, reloader = started(tmp_path)
    (tmp_path / "mesh").write_text(mesh)
    assert asyncio.run(reloader.check()) is False
    assert key in (state.last_error or "") and "(1-65535)" in (state.last_error or "")
