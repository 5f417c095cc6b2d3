"""Which setting decides: the user's config document, then the user's values, then ours.

A built-in default must never outrank user input. These run the webhook's loader
(``ConfigFiles`` over a ConfigMap directory, as mounted) and the CLI's (``load_config_files``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from injector.config import InjectorConfig, load_config_files
from injector.webhook.reload import ConfigFiles

REPO = Path(__file__).resolve().parents[2]
SHIPPED_VALUES = REPO / "manifests" / "base" / "config" / "values.yaml"
USER_VALUES = """
global:
  proxy: {autoInject: disabled}
pilot:
  env: {ENABLE_NATIVE_SIDECARS: "false"}
sidecarInjectorWebhook:
  defaultTemplates: [gateway]
"""


def _webhook(directory: Path) -> InjectorConfig:
    files = ConfigFiles(directory)
    return files.build(files.read())


def _assert_values_decide(config: InjectorConfig) -> None:
    assert config.policy == "disabled"
    assert config.native_sidecars is False
    assert config.default_templates == ("gateway",)


def test_values_decide_in_a_configmap_without_a_config_key(tmp_path: Path) -> None:
    (tmp_path / "values").write_text(USER_VALUES)
    _assert_values_decide(_webhook(tmp_path))


def test_values_decide_in_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "values.yaml"
    path.write_text(USER_VALUES)
    _assert_values_decide(load_config_files(None, path, None))


def test_the_shipped_configmap_values_decide_once_edited(tmp_path: Path) -> None:
    shipped = SHIPPED_VALUES.read_text()
    assert "autoInject: enabled" in shipped
    (tmp_path / "values").write_text(shipped.replace("autoInject: enabled", "autoInject: disabled"))
    assert _webhook(tmp_path).policy == "disabled"


def test_a_user_config_document_outranks_the_values(tmp_path: Path) -> None:
    (tmp_path / "values").write_text(USER_VALUES)
    (tmp_path / "config").write_text("policy: enabled\nnativeSidecars: true\n")
    config = _webhook(tmp_path)
    assert config.policy == "enabled"
    assert config.native_sidecars is True
    assert config.default_templates == ("gateway",)


@pytest.mark.parametrize("flag", [True, False])
def test_the_native_sidecars_flag_outranks_everything(tmp_path: Path, flag: bool) -> None:
    (tmp_path / "values").write_text(USER_VALUES)
    (tmp_path / "config").write_text(f"nativeSidecars: {str(not flag).lower()}\n")
    files = ConfigFiles(tmp_path, native_sidecars=flag)
    assert files.build(files.read()).native_sidecars is flag


def test_without_any_user_input_our_defaults_apply() -> None:
    config = load_config_files(None, None, None)
    assert (config.policy, config.native_sidecars, config.default_templates) == (
        "enabled",
        True,
        ("sidecar",),
    )


def test_mesh_config_in_values_is_the_mesh_without_a_mesh_document(tmp_path: Path) -> None:
    (tmp_path / "values").write_text("meshConfig: {trustDomain: corp.example}\n")
    assert _webhook(tmp_path).mesh["trustDomain"] == "corp.example"
    (tmp_path / "mesh").write_text("trustDomain: mesh.example\n")
    assert _webhook(tmp_path).mesh["trustDomain"] == "mesh.example"


@pytest.mark.parametrize(("env", "native"), [("auto", True), ("true", True), ("false", False)])
def test_native_sidecars_auto_means_on(env: str, native: bool) -> None:
    from injector.config import load_config

    config = load_config(None, f'pilot: {{env: {{ENABLE_NATIVE_SIDECARS: "{env}"}}}}\n', None)
    assert config.native_sidecars is native
