"""Labels and annotations of the README's tables that no golden exercises, asserted on the
injected pod: the network label, the Prometheus merge switch, the Datadog tracer's env and
the scrape ports the proxy reserves."""

from __future__ import annotations

from typing import Any

import pytest

from injector.config import default_config, load_config
from injector.core import Injected, InjectionParams, Injector
from injector.errors import InjectionError
from tests.injector.helpers import replica_pod


def injected(
    pod: dict[str, Any],
    values: str | None = None,
    mesh: str | None = None,
    proxy_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    config = load_config(None, values, mesh) if values or mesh else default_config()
    outcome = Injector(config).inject(
        pod, InjectionParams(namespace="shop", proxy_env=proxy_env or {})
    )
    assert isinstance(outcome, Injected)
    return outcome.pod


def proxy_env(pod: dict[str, Any]) -> dict[str, str]:
    proxy = next(c for c in pod["spec"]["initContainers"] if c["name"] == "istio-proxy")
    return {e["name"]: e.get("value") for e in proxy.get("env") or []}


def scrape_annotations(pod: dict[str, Any]) -> dict[str, str]:
    return {k: v for k, v in pod["metadata"]["annotations"].items() if k.startswith("prometheus")}


def labelled(network: str) -> dict[str, Any]:
    pod = replica_pod()
    pod["metadata"]["labels"]["topology.istio.io/network"] = network
    return pod


@pytest.mark.parametrize(
    ("values", "url_env"),
    [
        (None, None),
        ("global:\n  network: from-values\n", None),
        (None, {"ISTIO_META_NETWORK": "from-url"}),
    ],
)
def test_the_network_label_names_the_proxys_network(
    values: str | None, url_env: dict[str, str] | None
) -> None:
    pod = injected(labelled("net-east"), values=values, proxy_env=url_env)
    env = [e for e in pod["spec"]["initContainers"][1]["env"] if e["name"] == "ISTIO_META_NETWORK"]
    assert env == [{"name": "ISTIO_META_NETWORK", "value": "net-east"}]
    assert pod["metadata"]["labels"]["topology.istio.io/network"] == "net-east"


def test_without_the_label_the_url_network_wins_and_becomes_the_label() -> None:
    pod = injected(
        replica_pod(), "global:\n  network: from-values\n", proxy_env={"ISTIO_META_NETWORK": "u"}
    )
    assert proxy_env(pod)["ISTIO_META_NETWORK"] == "u"
    assert pod["metadata"]["labels"]["topology.istio.io/network"] == "u"


APP_SCRAPE = {"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}


def test_merge_metrics_false_keeps_the_apps_scrape_annotations() -> None:
    annotations = {**APP_SCRAPE, "prometheus.istio.io/merge-metrics": "false"}
    pod = injected(replica_pod(annotations))
    assert scrape_annotations(pod) == annotations
    assert "ISTIO_PROMETHEUS_ANNOTATIONS" not in proxy_env(pod)


def test_merge_metrics_true_wins_over_the_mesh_turning_the_merge_off() -> None:
    mesh_off = "enablePrometheusMerge: false\n"
    assert scrape_annotations(injected(replica_pod(APP_SCRAPE), mesh=mesh_off)) == APP_SCRAPE
    pod = injected(
        replica_pod({**APP_SCRAPE, "prometheus.istio.io/merge-metrics": "true"}), mesh=mesh_off
    )
    assert scrape_annotations(pod)["prometheus.io/port"] == "15020"
    assert proxy_env(pod)["ISTIO_PROMETHEUS_ANNOTATIONS"] == (
        '{"scrape":"true","path":"","port":"9090"}'
    )


DATADOG = "global:\n  proxy:\n    tracer: datadog\n"


def test_datadog_env_annotation_reaches_the_proxy_only_with_the_datadog_tracer() -> None:
    pod = replica_pod({"apm.datadoghq.com/env": '{"DD_ENV": "prod", "DD_TRACE_RATE": 1}'})
    env = proxy_env(injected(pod, values=DATADOG))
    assert (env["DD_ENV"], env["DD_TRACE_RATE"]) == ("prod", "1")
    assert "DD_ENV" not in proxy_env(injected(pod))


# The README lists these as the ports the proxy reserves (15020, the merged endpoint itself,
# is taken as already merged and left alone).
RESERVED = (15000, 15001, 15004, 15006, 15008, 15009, 15021, 15053, 15090)


@pytest.mark.parametrize("port", RESERVED)
def test_a_scrape_port_the_proxy_uses_is_refused(port: int) -> None:
    with pytest.raises(InjectionError, match=f"{port} is reserved by the proxy"):
        injected(replica_pod({"prometheus.io/port": str(port)}))


@pytest.mark.parametrize("port", [15002, 15010, 15100])
def test_other_ports_near_the_proxys_are_scraped(port: int) -> None:
    env = proxy_env(injected(replica_pod({"prometheus.io/port": str(port)})))
    assert f'"port":"{port}"' in env["ISTIO_PROMETHEUS_ANNOTATIONS"]
