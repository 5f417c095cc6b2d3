"""Shared paths and data of the Go template tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from injector import context, identity, render_cache
from injector.config import InjectorConfig, default_config
from injector.gotemplate.data import sidecar_data
from injector.gotemplate.values import Struct

TESTDATA = Path(__file__).parents[1] / "testdata" / "gotemplate"
GO_SIDECAR = TESTDATA / "sidecar.tmpl"


def template_data(pod: dict[str, Any], config: InjectorConfig | None = None) -> Struct:
    """The ``SidecarTemplateData`` the injector gives a template for ``pod``."""
    config = config or default_config()
    namespace = pod["metadata"].get("namespace", "default")
    meta = {**pod["metadata"], "namespace": namespace}
    workload = identity.from_pod(meta, namespace)
    settings = context.settings({"metadata": meta}, config, workload, None)
    ctx = context.build({"metadata": meta, "spec": pod["spec"]}, config, settings)
    return sidecar_data(ctx.variables(render_cache.Trace()))
