"""YAML from users (annotations, config files) is refused when aliases expand it too far."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
import yaml
from ruamel.yaml import YAML

from injector import safeyaml
from injector.config import load_config_files
from injector.core import Injector
from injector.errors import ConfigError
from injector.webhook import admission
from tests.webhook.conftest import hello_pod, review_of


def bomb(levels: int = 9, width: int = 9, indent: str = "") -> str:
    """A "billion laughs": ``width ** levels`` nodes in a few hundred bytes."""
    lines = [f"{indent}a0: &a0 [lol]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"{indent}a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once() -> None:
    start = time.perf_counter()
    with pytest.raises(safeyaml.YAMLLimitError, match="excessive aliasing"):
        safeyaml.load(bomb())
    assert time.perf_counter() - start < 0.5


def test_moderate_aliases_and_merge_keys_load_like_safe_load() -> None:
    text = "base: &b {cpu: 1, mem: 2}\none: *b\ntwo:\n  <<: *b\n  cpu: 3\nlist: [*b, *b]\n"
    assert safeyaml.load(text) == yaml.safe_load(text)


def test_recursive_alias_nesting_and_size_are_refused() -> None:
    with pytest.raises(safeyaml.YAMLLimitError, match="recursive alias"):
        safeyaml.load("&a [*a]")
    with pytest.raises(safeyaml.YAMLLimitError, match="nesting deeper than 100"):
        safeyaml.load("[" * 150 + "]" * 150)
    with pytest.raises(safeyaml.YAMLLimitError, match="bytes; the limit is 10"):
        safeyaml.load("a: 12345678901", safeyaml.Limits(max_bytes=10))


def test_check_aliases_works_on_ruamel_nodes() -> None:
    node = YAML().compose(bomb())
    with pytest.raises(safeyaml.YAMLLimitError, match="excessive aliasing"):
        safeyaml.check_aliases(node)
    safeyaml.check_aliases(YAML().compose("a: &x [1, 2]\nb: *x\n"))


def test_bomb_in_proxy_config_annotation_is_a_quick_deny_naming_it() -> None:
    pod = hello_pod()
    pod["metadata"].setdefault("annotations", {})["proxy.istio.io/config"] = bomb(
        levels=9, width=9
    ).replace("a0:", "proxyMetadata: {}\na0:", 1)
    start = time.perf_counter()
    reply = admission.review(review_of(pod), Injector(load_config_files()))
    elapsed = time.perf_counter() - start
    answer = json.loads(reply.body)["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 400
    assert "proxy.istio.io/config" in answer["status"]["message"]
    assert "excessive aliasing" in answer["status"]["message"]
    assert elapsed < 0.5 and len(reply.body) < 2000


def test_small_aliases_in_proxy_config_still_work() -> None:
    pod = hello_pod()
    pod["metadata"].setdefault("annotations", {})["proxy.istio.io/config"] = (
        "proxyMetadata: &m {A: 'x'}\ntracing: {custom: *m}\n"
    )
    reply = admission.review(review_of(pod), Injector(load_config_files()))
    answer = json.loads(reply.body)["response"]
    assert answer["allowed"] is True
    assert '\\"A\\":\\"x\\"' in base64.b64decode(answer["patch"]).decode()


@pytest.mark.parametrize("name", ["config", "values", "mesh"])
def test_bomb_in_a_config_file_is_a_config_error_naming_it(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(bomb())
    kwargs = {f"{name}_path": path}
    with pytest.raises(ConfigError, match=f"{path}: .*excessive aliasing"):
        load_config_files(**kwargs)  # type: ignore[arg-type]
