"""Self-managed webhook certificates for one replica, safe with any number of replicas.

``CertManager`` runs in background threads (the ``kubernetes`` client is synchronous and
must never block the server's event loop):

- a control loop that reconciles on every wake-up: the CA Secret (``store``), the live
  ``caBundle`` (``cabundle``), and this replica's in-memory serving leaf, which it publishes
  into a ``ServingContext``; it runs on events and every ``resync_interval`` (+-50 % jitter),
  retries failures fast (5 x ``retry_fast``) then slowly (``retry_slow``), and in between
  checks the leaf against the wall clock every ``renewal_check_interval`` without API calls;
- two watches (the Secret and the MutatingWebhookConfiguration, by name) that resume from
  their ``resourceVersion``, re-list on any error (410 Gone included), and wake the loop.

A failure never drops the current certificate: the replica keeps serving its last good leaf
and tries again. ``ready()`` holds only when that leaf is unexpired and chains to a CA in the
live ``caBundle`` last observed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from certs import cabundle, defaults, generate, kube, metrics, policy, store
from certs.errors import CertError
from certs.generate import CertKeyPair, KeyType
from certs.tls import ServingContext

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class CertSettings:
    """Everything the manager needs to know (defaults: the rotation profile of the leaves)."""

    namespace: str
    secret_name: str = defaults.SECRET_NAME
    service_name: str = defaults.SERVICE_NAME
    webhook_config_name: str = defaults.WEBHOOK_CONFIG_NAME
    webhook_names: tuple[str, ...] = ()  # our entries of that config; empty: all of them
    cluster_domain: str = defaults.CLUSTER_DOMAIN
    extra_dns_names: tuple[str, ...] = ()
    extra_ips: tuple[str, ...] = ()
    ca_validity: timedelta = timedelta(days=defaults.CA_DAYS)
    leaf_validity: timedelta = timedelta(days=defaults.LEAF_DAYS)
    key_type: KeyType = "ec"
    bundle_grace: timedelta = timedelta(seconds=60)
    resync_interval: float = 300.0
    renewal_check_interval: float = 60.0
    watch_timeout: int = 300
    retry_fast: float = 0.1
    retry_fast_attempts: int = 5
    retry_slow: float = 60.0
    dns_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        names = generate.service_dns_names(
            self.service_name, self.namespace, self.cluster_domain, self.extra_dns_names
        )
        object.__setattr__(self, "dns_names", names)

    @property
    def secret(self) -> store.SecretRef:
        return store.SecretRef(self.namespace, self.secret_name, self.ca_validity, self.key_type)

    @property
    def target(self) -> cabundle.WebhookTarget:
        return cabundle.WebhookTarget(self.webhook_config_name, self.webhook_names)


class CertManager:
    """One replica's certificate lifecycle; see the module docstring."""

    def __init__(
        self,
        settings: CertSettings,
        client: Any | None,
        holder: ServingContext,
        *,
        clock: Clock = generate.utcnow,
    ) -> None:
        self.settings = settings
        self._kube = kube.KubeApi(client if client is not None else kube.make_api_client())
        self._holder = holder
        self._clock = clock
        self._observer = policy.LiveBundleObserver()
        self._keys: dict[str, CertKeyPair] = {}  # CAs we can sign with, by fingerprint
        self._ca: store.CaState | None = None
        self._leaf: CertKeyPair | None = None
        self._leaf_ca: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_error: str | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        targets: list[tuple[str, Callable[[], None]]] = [
            ("certs-control", self._run),
            ("certs-watch-secret", self._watch_secret),
            ("certs-watch-webhook", self._watch_webhook),
        ]
        for name, target in targets:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop every thread, waiting at most ``timeout`` seconds in all.

        The watches are cut off (``close_watches``) rather than waited for: a watch idles in
        a streaming read for up to ``watch_timeout`` seconds.
        """
        self._stop.set()
        self._wake.set()
        self._kube.close_watches()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("thread %s still running at shutdown", thread.name)
        self._threads.clear()

    # state -------------------------------------------------------------------------------

    @property
    def holder(self) -> ServingContext:
        return self._holder

    @property
    def leaf(self) -> CertKeyPair | None:
        return self._leaf

    @property
    def ca(self) -> store.CaState | None:
        return self._ca

    def ready(self) -> tuple[bool, str]:
        leaf, now = self._leaf, self._clock()
        if leaf is None:
            return False, f"no serving certificate yet ({self.last_error or 'starting'})"
        if leaf.cert.not_valid_after_utc <= now:
            return False, "the serving certificate has expired"
        if not self._observer.observed:
            return False, "the live caBundle has not been read yet"
        if not self._observer.trusts(leaf.cert):
            return False, (
                f"the serving certificate's CA is not yet in the caBundle of "
                f"MutatingWebhookConfiguration `{self.settings.webhook_config_name}`"
            )
        return True, f"serving certificate {leaf.cert.serial_number:x} is trusted by the caBundle"

    # reconcile ---------------------------------------------------------------------------

    def reconcile_now(self) -> None:
        """One full pass; raises ``CertError`` after doing whatever could be done."""
        with self._lock:
            try:
                state = store.ensure_ca(self._kube, self.settings.secret, self._clock)
            except CertError:
                if self._ca is not None:  # API down: renew the leaf from the CA we hold
                    self._ensure_leaf(self._ca)
                    self._export_metrics()
                raise
            self._adopt(state)
            bundle_error: CertError | None = None
            try:
                live = cabundle.reconcile(self._kube, self.settings.target, state.bundle_pem)
                self._observer.observe(
                    cabundle.live_trusted(live, self.settings.target), self._clock()
                )
            except CertError as exc:
                bundle_error = exc
            self._ensure_leaf(state)
            self._export_metrics()
            if bundle_error is not None:
                raise bundle_error

    def _adopt(self, state: store.CaState) -> None:
        trusted = {generate.fingerprint(c) for c in state.bundle}
        if self._ca is None or self._ca.active.cert != state.active.cert:
            logger.info("using CA serial %x from the Secret", state.active.cert.serial_number)
        self._keys[generate.fingerprint(state.active.cert)] = state.active
        self._keys = {fp: k for fp, k in self._keys.items() if fp in trusted}
        self._ca = state

    def _ensure_leaf(self, state: store.CaState) -> None:
        now = self._clock()
        signer = policy.signing_ca(
            list(self._keys.values()), self._observer.since, now, self.settings.bundle_grace
        )
        if signer is None:
            return
        reason = self._leaf_reason(signer, state, now)
        if reason is None:
            return
        s = self.settings
        leaf = generate.make_leaf(
            signer, now, s.leaf_validity, s.dns_names, s.extra_ips, key_type=s.key_type
        )
        self._holder.load_pem(leaf.cert_pem, leaf.key_pem)
        self._leaf, self._leaf_ca = leaf, generate.fingerprint(signer.cert)
        logger.info(
            "new serving certificate %x (CA %x): %s",
            leaf.cert.serial_number,
            signer.cert.serial_number,
            reason,
        )

    def _leaf_reason(self, signer: CertKeyPair, state: store.CaState, now: datetime) -> str | None:
        leaf = self._leaf
        if leaf is None:
            return "no serving certificate yet"
        if policy.leaf_needs_renewal(leaf.cert, now):
            return "2/3 of its lifetime is used"
        if self._leaf_ca not in {generate.fingerprint(c) for c in state.bundle}:
            return "its CA is no longer in the trust bundle"
        signer_live = generate.fingerprint(signer.cert) in self._observer.since
        if signer_live and not self._observer.trusts(leaf.cert):
            return "its CA is not in the live caBundle"
        return None

    def _export_metrics(self) -> None:
        now = self._clock()
        if self._ca is not None:
            seconds = (self._ca.active.cert.not_valid_after_utc - now).total_seconds()
            metrics.CERT_EXPIRY.labels(kind="ca").set(seconds)
        if self._leaf is not None:
            seconds = (self._leaf.cert.not_valid_after_utc - now).total_seconds()
            metrics.CERT_EXPIRY.labels(kind="leaf").set(seconds)

    # threads -----------------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        full, next_resync = True, 0.0
        while not self._stop.is_set():
            try:
                if full:
                    next_resync = time.monotonic() + self._jittered_resync()
                    self.reconcile_now()
                else:
                    self.check_leaf()
            except CertError as exc:
                failures += 1
                self.last_error = str(exc)
                logger.warning("certificate reconcile failed (attempt %d): %s", failures, exc)
            except Exception:  # a bug must not kill the thread or the last good cert
                failures += 1
                self.last_error = "internal error"
                logger.exception("unexpected error in certificate reconcile")
            else:
                if full:
                    failures, self.last_error = 0, None
            woken = self._wake.wait(self._delay(failures, next_resync))
            self._wake.clear()
            full = woken or failures > 0 or time.monotonic() >= next_resync

    def check_leaf(self) -> None:
        """The wall-clock renewal check: no API calls, renews from the CA we hold."""
        with self._lock:
            if self._ca is not None:
                self._ensure_leaf(self._ca)
                self._export_metrics()

    def _jittered_resync(self) -> float:
        return self.settings.resync_interval * random.uniform(0.5, 1.5)

    def _delay(self, failures: int, next_resync: float) -> float:
        if failures:
            return self._retry_delay(failures)
        until_resync = next_resync - time.monotonic()
        return max(0.0, min(until_resync, self.settings.renewal_check_interval))

    def _retry_delay(self, failures: int) -> float:
        s = self.settings
        return s.retry_fast if failures <= s.retry_fast_attempts else s.retry_slow

    def _watch_secret(self) -> None:
        ns, name = self.settings.namespace, self.settings.secret_name
        self._watch_loop(
            f"Secret {ns}/{name}",
            lambda: self._kube.secret_list_version(ns, name),
            lambda rv: self._kube.watch_secret(ns, name, rv, self.settings.watch_timeout),
        )

    def _watch_webhook(self) -> None:
        name = self.settings.webhook_config_name
        self._watch_loop(
            f"MutatingWebhookConfiguration {name}",
            lambda: self._kube.webhook_config_list_version(name),
            lambda rv: self._kube.watch_webhook_config(name, rv, self.settings.watch_timeout),
        )

    def _watch_loop(
        self,
        what: str,
        list_version: Callable[[], str],
        watch: Callable[[str], Iterator[kube.WatchEvent]],
    ) -> None:
        version: str | None = None
        failures = 0
        while not self._stop.is_set():
            try:
                if version is None:
                    version = list_version()
                    self._wake.set()
                for event in watch(version):
                    version = event.resource_version
                    logger.debug("%s: %s at %s", what, event.type, version)
                    self._wake.set()
                    if self._stop.is_set():
                        return
                failures = 0
            except CertError as exc:
                version, failures = None, failures + 1
                logger.info("watch on %s ended (%s); re-listing", what, exc)
                self._stop.wait(self._retry_delay(failures))
            except Exception:  # keep watching whatever happens
                version, failures = None, failures + 1
                logger.exception("unexpected error watching %s", what)
                self._stop.wait(self._retry_delay(failures))
