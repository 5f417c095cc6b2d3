"""Config hot reload: a good change is served, a broken one is rejected and the old kept."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from injector.errors import ConfigError
from injector.webhook.reload import ConfigFiles, ConfigReloader, load_state
from tests.pki import Certs
from tests.webhook.conftest import Running, hello_pod, review_of, running_server

BROKEN_CONFIG = 'templates:\n  sidecar: "{% if %}"\n'


def values(hub: str) -> str:
    return f"global:\n  hub: {hub}\n  tag: '1.0'\n"


def configmap_dir(root: Path, files: dict[str, str], version: int) -> None:
    """Lay out ``root`` like a kubelet ConfigMap volume and swap ``..data`` atomically."""
    data = root / f"..v{version}"
    data.mkdir()
    for name, text in files.items():
        (data / name).write_text(text)
    link = root / f"..data_tmp{version}"
    link.symlink_to(data.name)
    os.replace(link, root / "..data")
    for name in files:
        if not (root / name).is_symlink():
            (root / name).symlink_to(f"..data/{name}")


def proxy_image(live: Running) -> str:
    with live.client() as client:
        response = client.post("/inject", json=review_of(hello_pod()))
    ops = json.loads(base64.b64decode(response.json()["response"]["patch"]))
    for op in ops:
        if op["path"] == "/spec/initContainers":
            return str(next(c["image"] for c in op["value"] if c["name"] == "istio-proxy"))
    raise AssertionError(ops)


def eventually(check: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_reload_good_then_broken_then_fixed(certs: Certs, tmp_path: Path) -> None:
    root = tmp_path / "config"
    root.mkdir()
    configmap_dir(root, {"values": values("hub.one")}, 1)
    with running_server(certs, "--config-dir", str(root), "--reload-interval", "0.05") as live:
        assert proxy_image(live) == "hub.one/proxyv2:1.0"

        configmap_dir(root, {"values": values("hub.two")}, 2)
        assert eventually(lambda: proxy_image(live) == "hub.two/proxyv2:1.0")
        with live.client() as client:
            assert client.get("/readyz").json()["config"]["generation"] == 2

        configmap_dir(root, {"values": values("hub.three"), "config": BROKEN_CONFIG}, 3)

        def rejected() -> Any:
            with live.client() as client:
                ready = client.get("/readyz")
            return ready.status_code == 200 and ready.json()["config"]["last_error"]

        error = eventually(rejected)
        assert error and "sidecar" in error
        assert proxy_image(live) == "hub.two/proxyv2:1.0"  # the old config keeps serving
        assert live.metric('sidecar_injector_config_reload_total{result="failure"}') == 1
        assert live.metric('sidecar_injector_config_reload_total{result="success"}') == 1

        configmap_dir(root, {"values": values("hub.three")}, 4)
        assert eventually(lambda: proxy_image(live) == "hub.three/proxyv2:1.0")
        with live.client() as client:
            config = client.get("/readyz").json()["config"]
        assert config["last_error"] is None and config["generation"] == 3


def test_reloader_unit(tmp_path: Path) -> None:
    (tmp_path / "values").write_text(values("a"))
    files = ConfigFiles(tmp_path)
    state = load_state(files, cache_bytes=64 * 2**10)
    reloader = ConfigReloader(files, state, interval=0.01)
    first = state.injector
    assert asyncio.run(reloader.check()) is False  # unchanged
    (tmp_path / "mesh").write_text("defaultConfig:\n  statusPort: 15021\n")
    assert asyncio.run(reloader.check()) is True
    assert state.injector is not first and state.generation == 2
    (tmp_path / "values").write_text("global: [not, a, mapping]\n")
    assert asyncio.run(reloader.check()) is False
    assert asyncio.run(reloader.check()) is False  # the same broken content: counted once
    assert state.reloads_failed == 1 and state.last_error
    (tmp_path / "values").write_text(values("a"))
    assert asyncio.run(reloader.check()) is False  # back to the live content: error cleared
    assert state.last_error is None


def test_broken_config_at_start_up_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "config").write_text(BROKEN_CONFIG)
    with pytest.raises(ConfigError):
        load_state(ConfigFiles(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        load_state(ConfigFiles(tmp_path / "missing"))


def test_template_files_in_the_config_dir_replace_the_built_in(tmp_path: Path) -> None:
    from importlib import resources

    built_in = resources.files("injector").joinpath("data/sidecar.yaml.j2").read_text()
    marker = "    example.com/edited: {{ 'by-operator' }}\n"
    edited = built_in.replace("  annotations:\n", "  annotations:\n" + marker, 1)
    assert edited != built_in
    configmap_dir(tmp_path, {"sidecar.yaml.j2": built_in, "values": values("a.example")}, 1)
    files = ConfigFiles(tmp_path)
    state = load_state(files)
    pod = hello_pod()
    before = state.injector.inject(pod)
    assert "example.com/edited" not in before.pod["metadata"]["annotations"]  # type: ignore[union-attr]
    configmap_dir(tmp_path, {"sidecar.yaml.j2": edited, "values": values("a.example")}, 2)
    reloader = ConfigReloader(files, state, interval=0.05)
    asyncio.run(reloader.check())
    after = state.injector.inject(pod)
    assert after.pod["metadata"]["annotations"]["example.com/edited"] == "by-operator"  # type: ignore[union-attr]
    assert state.generation == 2


def test_render_cache_metrics_carry_over_reloads(certs: Certs, tmp_path: Path) -> None:
    """Every injection of the hello pod is one render-cache lookup; the lookup counters
    survive a reload, the size gauges describe the new config's (fresh) cache."""
    root = tmp_path / "config"
    root.mkdir()
    configmap_dir(root, {"values": values("hub.one")}, 1)
    lookups = "sidecar_injector_render_cache_lookups_total"
    with running_server(certs, "--config-dir", str(root), "--reload-interval", "0.05") as live:
        sent = 0

        def image() -> str:
            nonlocal sent
            sent += 1
            return proxy_image(live)

        assert image() == image() == "hub.one/proxyv2:1.0"
        assert live.metric(f'{lookups}{{result="miss"}}') == 1
        assert live.metric(f'{lookups}{{result="hit"}}') == 1
        assert live.metric("sidecar_injector_render_cache_entries") == 1
        first_bytes = live.metric("sidecar_injector_render_cache_bytes")
        assert first_bytes > 1000  # the rendered sidecar and its key

        configmap_dir(root, {"values": values("hub.two")}, 2)
        assert eventually(lambda: image() == "hub.two/proxyv2:1.0")
        assert image() == "hub.two/proxyv2:1.0"  # a hit in the new config's cache
        hits = live.metric(f'{lookups}{{result="hit"}}')
        misses = live.metric(f'{lookups}{{result="miss"}}')
        assert hits + misses == sent and misses == 2 and hits >= 2
        assert live.metric("sidecar_injector_render_cache_entries") == 1
