"""Our injection against Istio's own goldens (``testdata/istio/inject``), compared semantically.

Each case runs the ``injector inject`` path (whole manifest) and is compared, after removing
Go serialisation artifacts only (see ``helpers.normalize``), with Istio's output for the same
input and settings. One divergence is deliberate and explicit below: Istio's kube-inject puts
a CronJob's injected metadata on ``jobTemplate.metadata`` instead of the pod template, so the
pods never carry it; we put it on the pod template.
"""

from __future__ import annotations

from typing import Any

import pytest

from injector.core import Injector
from injector.errors import ManifestError
from injector.manifests import transform
from tests.injector.helpers import ISTIO, istio_config, load_docs, normalize

# golden -> (input file, native sidecars)
CASES = {
    "hello": ("hello", True),
    "hello-old-version": ("hello", False),
    "pod": ("pod", True),
    "list": ("list", True),
    "cronjob": ("cronjob", True),
    "hello-ignore": ("hello-ignore", True),
    "hello-host-network": ("hello-host-network", True),
    "traffic-annotations": ("traffic-annotations", True),
    "hello-probes": ("hello-probes", True),
    "resource_annotations": ("resource_annotations", True),
    "status_annotations": ("status_annotations", True),
    "proxy-override": ("proxy-override", True),
    "multi-container": ("multi-container", True),
    "native-sidecar-opt-out": ("native-sidecar-opt-out", True),
}


def _istio_cronjob_fix(doc: dict[str, Any]) -> dict[str, Any]:
    """Move Istio's misplaced CronJob metadata to the pod template, where we put it."""
    job = doc["spec"]["jobTemplate"]
    misplaced = job.pop("metadata", {})
    job["spec"]["template"]["metadata"] = misplaced
    return doc


@pytest.mark.parametrize("golden", sorted(CASES))
def test_matches_istio(golden: str) -> None:
    source, native = CASES[golden]
    text = (ISTIO / f"{source}.yaml").read_text()
    result = transform(text, Injector(istio_config(native)))
    expected = load_docs((ISTIO / f"{golden}.yaml.injected").read_text())
    if golden == "cronjob":
        expected = [_istio_cronjob_fix(d) for d in expected]
    assert normalize(load_docs(result.text)) == normalize(expected)


def test_bad_include_ip_ranges_is_rejected_naming_the_annotation() -> None:
    text = (ISTIO / "traffic-annotations-bad-includeipranges.yaml").read_text()
    with pytest.raises(ManifestError) as info:
        transform(text, Injector(istio_config()))
    message = str(info.value)
    assert "traffic.sidecar.istio.io/includeOutboundIPRanges" in message
    assert "'bad'" in message
    assert "Deployment/traffic" in message


def test_every_shared_istio_golden_is_covered() -> None:
    goldens = {p.name.removesuffix(".yaml.injected") for p in ISTIO.glob("*.yaml.injected")}
    assert goldens == set(CASES)
