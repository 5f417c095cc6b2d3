"""Prometheus metrics of the webhook, under Istio's names.

Each app gets its own ``CollectorRegistry`` (tests build many apps). Counting follows
Istio's ``serveInject`` so existing dashboards read the same:

- ``sidecar_injection_requests_total``: every request to ``/inject``;
- ``sidecar_injection_success_total``: an AdmissionReview answer was written (injected,
  skipped *and* denied pods, as in Istio);
- ``sidecar_injection_skip_total``: the policy skipped the pod;
- ``sidecar_injection_failure_total``: a denied pod or a rejected request (HTTP 4xx);
- ``sidecar_injection_time_seconds``: handler latency, apiserver admission buckets.

Read from the live ``ConfigState`` when scraped:

- ``sidecar_injector_config_reload_total{result}``, ``sidecar_injector_config_generation``;
- ``sidecar_injector_render_cache_lookups_total{result="hit"|"miss"}``: renders served
  from the render cache or rendered, over every config loaded so far;
- ``sidecar_injector_render_cache_bytes`` and ``sidecar_injector_render_cache_entries``:
  what the current config's cache holds (a reload starts an empty one).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

from injector.webhook.admission import Disposition
from injector.webhook.reload import ConfigState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# kube-apiserver's apiserver_admission_webhook_admission_duration_seconds buckets
BUCKETS = (0.005, 0.025, 0.1, 0.5, 1.0, 2.5, 10.0, 25.0)


class Metrics:
    def __init__(self, state: ConfigState) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "sidecar_injection_requests",
            "Total number of injection requests.",
            registry=self.registry,
        )
        self.success = Counter(
            "sidecar_injection_success",
            "Total number of answered admission reviews (injected, skipped or denied).",
            registry=self.registry,
        )
        self.skip = Counter(
            "sidecar_injection_skip", "Total number of skipped injections.", registry=self.registry
        )
        self.failure = Counter(
            "sidecar_injection_failure",
            "Total number of denied pods and rejected requests.",
            registry=self.registry,
        )
        self.time = Histogram(
            "sidecar_injection_time_seconds",
            "Time taken to answer an injection request.",
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_ConfigCollector(state))

    def observe(self, disposition: Disposition, seconds: float) -> None:
        """Count one finished request (``requests`` is counted when it arrives)."""
        if disposition == "invalid":
            self.failure.inc()
        else:
            self.success.inc()
            if disposition == "skipped":
                self.skip.inc()
            elif disposition == "denied":
                self.failure.inc()
        self.time.observe(seconds)

    def render(self) -> bytes:
        """Our registry, then the process-wide one (certificate metrics of ``certs``, process
        and Python runtime metrics)."""
        return generate_latest(self.registry) + generate_latest(REGISTRY)


class _ConfigCollector(Collector):
    def __init__(self, state: ConfigState) -> None:
        self._state = state

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        reloads = CounterMetricFamily(
            "sidecar_injector_config_reload",
            "Config reload attempts after the first load, by result.",
            labels=["result"],
        )
        reloads.add_metric(["success"], self._state.reloads_ok)
        reloads.add_metric(["failure"], self._state.reloads_failed)
        yield reloads
        yield GaugeMetricFamily(
            "sidecar_injector_config_generation",
            "Number of configs loaded so far (1 after start-up).",
            value=self._state.generation,
        )
        cache = self._state.injector.cache
        lookups = CounterMetricFamily(
            "sidecar_injector_render_cache_lookups",
            "Template renders served from the render cache (hit) or rendered (miss).",
            labels=["result"],
        )
        lookups.add_metric(["hit"], self._state.retired_hits + cache.hits)
        lookups.add_metric(["miss"], self._state.retired_misses + cache.misses)
        yield lookups
        yield GaugeMetricFamily(
            "sidecar_injector_render_cache_bytes",
            "Bytes the render cache of the current config holds (renders and their keys).",
            value=cache.bytes,
        )
        yield GaugeMetricFamily(
            "sidecar_injector_render_cache_entries",
            "Renders the render cache of the current config holds.",
            value=cache.entries,
        )
