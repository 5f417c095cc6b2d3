"""Scalars ``injector inject`` writes read back as the same value under YAML 1.1 and 1.2."""

from __future__ import annotations

import pytest
import yaml
from ruamel.yaml import YAML

from injector import yamltext

STRINGS = ["129e6", "1e3", "0o17", "0x1F", ".inf", ".NaN", "True", "~", "15020", "1.5", "*", "a b"]


@pytest.mark.parametrize("text", STRINGS)
def test_a_string_stays_a_string_for_both_yaml_versions(text: str) -> None:
    rendered = f"k: {yamltext.scalar(text)}\n"
    assert yaml.safe_load(rendered) == {"k": text}  # YAML 1.1 (PyYAML)
    assert YAML(typ="safe").load(rendered) == {"k": text}  # YAML 1.2 core schema (ruamel)


@pytest.mark.parametrize("text", ["512Mi", "1500m", "istio-proxy", "docker.io/istio/proxyv2:1.24"])
def test_plain_strings_stay_plain(text: str) -> None:
    assert yamltext.scalar(text) == text
