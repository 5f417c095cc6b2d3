"""CertManager replicas against the in-process fake API, driven by the real kubernetes client."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from certs import generate
from certs.errors import ClusterAccessError, NotFoundError, PermissionDeniedError
from certs.manager import CertManager, CertSettings
from certs.tls import ServingContext
from tests.certs.serving import (
    client_context,
    get,
    handshake,
    https_connection,
    peer_serial,
    run_server,
    wait_for,
)
from tests.fakekube import MWCS, SECRETS, FakeKube, secret, webhook_config

NS = "mesh-system"
HOOK = "sidecar.example.io"
SETTINGS = CertSettings(
    namespace=NS,
    secret_name="injector-webhook-ca",
    service_name="injector",
    webhook_config_name="injector",
    webhook_names=(HOOK,),
    extra_ips=("127.0.0.1",),
    ca_validity=timedelta(days=30),
    leaf_validity=timedelta(days=7),
    bundle_grace=timedelta(seconds=0),
    resync_interval=0.3,
    renewal_check_interval=0.3,
    watch_timeout=1,
    retry_fast=0.05,
    retry_slow=0.2,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = generate.utcnow()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self.now

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self.now += delta


@pytest.fixture
def fake() -> Iterator[FakeKube]:
    with FakeKube() as kube:
        kube.put(MWCS, webhook_config("injector", [HOOK, "other.example.io"]))
        yield kube


def replicas(
    fake: FakeKube, n: int, clock: Callable[[], datetime] = generate.utcnow, **overrides: object
) -> list[CertManager]:
    settings = replace(SETTINGS, **overrides)  # type: ignore[arg-type]
    return [
        CertManager(settings, fake.api_client(), ServingContext(clock=clock), clock=clock)
        for _ in range(n)
    ]


@pytest.fixture
def running() -> Iterator[list[CertManager]]:
    started: list[CertManager] = []
    yield started
    for manager in started:
        manager.stop()


def start_all(managers: list[CertManager], running: list[CertManager]) -> None:
    running.extend(managers)
    for manager in managers:
        manager.start()


def secret_data(fake: FakeKube) -> dict[str, bytes]:
    obj = fake.get(SECRETS, SETTINGS.secret_name, NS)
    assert obj is not None
    return {k: base64.b64decode(v) for k, v in obj["data"].items()}


def live_bundle(fake: FakeKube, hook: str = HOOK) -> bytes:
    obj = fake.get(MWCS, "injector")
    assert obj is not None
    entry = next(h for h in obj["webhooks"] if h["name"] == hook)
    return base64.b64decode(entry["clientConfig"].get("caBundle", ""))


def in_parallel(*calls: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def run(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:  # collected and asserted by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    return errors


def conflicts() -> float:
    return REGISTRY.get_sample_value("sidecar_injector_ca_secret_conflicts_total") or 0.0


def test_bootstrap_end_to_end_apiserver_view(fake: FakeKube, running: list[CertManager]) -> None:
    [manager] = replicas(fake, 1)
    assert manager.ready() == (False, "no serving certificate yet (starting)")
    start_all([manager], running)
    wait_for(lambda: manager.ready()[0], what="ready")

    data = secret_data(fake)
    obj = fake.get(SECRETS, SETTINGS.secret_name, NS)
    assert obj is not None and obj["type"] == "kubernetes.io/tls"
    assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sidecar-injector"
    assert data["ca.crt"] == data["tls.crt"]
    assert live_bundle(fake) == data["ca.crt"]
    assert live_bundle(fake, "other.example.io") == b"", "entries that are not ours stay untouched"

    # What the apiserver does: dial <svc>.<ns>.svc trusting only the live caBundle.
    with run_server(manager.holder) as port:
        tls = handshake(port, client_context(live_bundle(fake)), f"injector.{NS}.svc")
        peer = tls.getpeercert()
        assert peer is not None
        assert peer["subject"] == ((("commonName", f"injector.{NS}.svc"),),)
        tls.close()
    leaf_expiry = REGISTRY.get_sample_value(
        "sidecar_injector_cert_expiry_seconds", {"kind": "leaf"}
    )
    assert leaf_expiry is not None and 6.9 * 86400 < leaf_expiry <= 7 * 86400 + 300


def test_create_race_one_ca_wins_and_everyone_serves_from_it(fake: FakeKube) -> None:
    managers = replicas(fake, 3)
    before = conflicts()
    fake.gate("create", SECRETS, 3)
    assert in_parallel(*(m.reconcile_now for m in managers)) == []

    assert fake.count("create", SECRETS, 201) == 1
    assert fake.count("create", SECRETS, 409) == 2
    assert conflicts() - before == 2
    ca = generate.load_cert(secret_data(fake)["tls.crt"])
    for m in managers:
        assert m.ca is not None and m.ca.active.cert == ca
        assert m.leaf is not None and generate.issued_by(m.leaf.cert, ca)
        assert m.ready()[0]
    patches = fake.count("patch", MWCS, 200)
    assert 1 <= patches <= 3
    for m in managers:
        m.reconcile_now()
    assert fake.count("patch", MWCS) == patches, "no write without a difference"
    assert fake.count("update", SECRETS) == 0


def test_rotation_race_one_wins_others_adopt_then_bundle_before_use(fake: FakeKube) -> None:
    clock = FakeClock()
    managers = replicas(fake, 3, clock, bundle_grace=timedelta(seconds=60))
    for m in managers:
        m.reconcile_now()
    old_ca = generate.load_cert(secret_data(fake)["tls.crt"])
    old_leaves = {m.leaf.cert.serial_number for m in managers if m.leaf}
    assert len(old_leaves) == 3

    clock.advance(timedelta(days=21))  # 9 of 30 days left (< 1/3); 7-day leaves have expired
    fake.gate("update", SECRETS, 3)
    assert in_parallel(*(m.reconcile_now for m in managers)) == []

    assert fake.count("update", SECRETS, 200) == 1
    assert fake.count("update", SECRETS, 409) == 2
    data = secret_data(fake)
    new_ca = generate.load_cert(data["tls.crt"])
    assert new_ca != old_ca
    assert generate.load_certs(data["ca.crt"]) == [new_ca, old_ca]
    assert live_bundle(fake) == data["ca.crt"]
    for m in managers:
        assert m.ca is not None and m.ca.active.cert == new_ca
        # The new CA is in the live caBundle for less than the grace delay: sign with the old.
        assert m.leaf is not None and m.leaf.cert.serial_number not in old_leaves
        assert generate.issued_by(m.leaf.cert, old_ca)
        assert m.ready()[0]

    clock.advance(timedelta(seconds=61))
    for m in managers:
        serial = m.leaf.cert.serial_number  # type: ignore[union-attr]
        m.reconcile_now()
        assert m.leaf.cert.serial_number == serial, "no re-mint before the scheduled renewal"  # type: ignore[union-attr]
    clock.advance(timedelta(days=6, hours=3))  # old-CA leaves end with it (9 days): 2/3 used
    for m in managers:
        m.reconcile_now()
        assert m.leaf is not None and generate.issued_by(m.leaf.cert, new_ca)
        assert m.ready()[0]
    assert fake.count("update", SECRETS, 200) == 1, "no further rotation"


def test_clobbered_cabundle_is_repaired_within_seconds(
    fake: FakeKube, running: list[CertManager]
) -> None:
    managers = replicas(fake, 2)
    start_all(managers, running)
    wait_for(lambda: all(m.ready()[0] for m in managers), what="ready")
    want = secret_data(fake)["ca.crt"]

    fake.put(MWCS, webhook_config("injector", [HOOK, "other.example.io"]))  # Helm re-apply
    assert live_bundle(fake) == b""
    started = time.monotonic()
    wait_for(lambda: live_bundle(fake) == want, timeout=3, what="caBundle repair")
    assert time.monotonic() - started < 3
    wait_for(lambda: all(m.ready()[0] for m in managers), what="ready again")

    fake.compact()  # watches must re-list after 410 Gone and still see the next clobber
    fake.put(MWCS, webhook_config("injector", [HOOK], ca_bundle=b"not a pem"))
    wait_for(lambda: live_bundle(fake) == want, timeout=3, what="second repair")


def test_api_down_at_start_then_recovers(fake: FakeKube, running: list[CertManager]) -> None:
    [manager] = replicas(fake, 1)
    fake.outage("refuse")
    start_all([manager], running)
    wait_for(lambda: manager.last_error is not None, what="a failed attempt")
    ok, why = manager.ready()
    assert not ok and "cannot reach the API server" in why
    assert manager.holder.info is None

    fake.restore()
    wait_for(lambda: manager.ready()[0], what="ready after the API came back")


@pytest.mark.parametrize("mode", ["refuse", "503"])
def test_api_flapping_keeps_serving_the_same_leaf(
    mode: str, fake: FakeKube, running: list[CertManager]
) -> None:
    [manager] = replicas(fake, 1)
    start_all([manager], running)
    wait_for(lambda: manager.ready()[0], what="ready")
    assert manager.leaf is not None
    serial = manager.leaf.cert.serial_number
    ctx = client_context(secret_data(fake)["ca.crt"])
    with run_server(manager.holder) as port:
        for _ in range(3):
            fake.outage(mode)  # type: ignore[arg-type]
            time.sleep(0.3)
            conn = https_connection(port, ctx)
            assert get(conn) == (200, b"ok")
            assert peer_serial(conn.sock) == serial
            conn.close()
            assert manager.ready()[0], "last observed caBundle still trusts the leaf"
            fake.restore()
            time.sleep(0.3)
        wait_for(lambda: manager.last_error is None, what="recovery")
    assert manager.leaf.cert.serial_number == serial
    assert manager.ready()[0]


def _bad_secret(kind: str) -> dict[str, bytes]:
    now = generate.utcnow()
    ca = generate.make_ca(now, timedelta(days=30))
    old = generate.make_ca(now - timedelta(days=40), timedelta(days=30))
    leaf = generate.make_leaf(ca, now, timedelta(days=1), ["x.svc"])
    other = generate.make_ca(now, timedelta(days=30))
    return {
        "garbage": {"tls.crt": b"\x00\x01garbage", "tls.key": b"nope", "ca.crt": b"???"},
        "mismatched-key": {"tls.crt": ca.cert_pem, "tls.key": other.key_pem, "ca.crt": ca.cert_pem},
        "expired-ca": {"tls.crt": old.cert_pem, "tls.key": old.key_pem, "ca.crt": old.cert_pem},
        "not-a-ca": {"tls.crt": leaf.cert_pem, "tls.key": leaf.key_pem, "ca.crt": leaf.cert_pem},
        "empty": {},
    }[kind]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("garbage", "not valid PEM"),
        ("mismatched-key", "key does not match"),
        ("expired-ca", "expired"),
        ("not-a-ca", "not a CA"),
        ("empty", "not valid PEM"),
    ],
)
def test_bad_secret_is_rotated_and_logged_never_raised(
    kind: str, reason: str, fake: FakeKube, caplog: pytest.LogCaptureFixture
) -> None:
    original = _bad_secret(kind)
    fake.put(SECRETS, secret(NS, SETTINGS.secret_name, original))
    [manager] = replicas(fake, 1)
    with caplog.at_level(logging.WARNING, logger="certs"):
        manager.reconcile_now()
    assert any(
        reason in r.getMessage() and "needs a new CA" in r.getMessage() for r in caplog.records
    )
    data = secret_data(fake)
    new = generate.load_ca(data["tls.crt"], data["tls.key"], generate.utcnow())
    bundle = generate.load_certs(data["ca.crt"])
    assert bundle[0] == new.cert
    # Only a still-valid CA certificate from ca.crt stays trusted (its leaves may be in use).
    kept = [generate.load_cert(original["ca.crt"])] if kind == "mismatched-key" else []
    assert bundle[1:] == kept
    assert manager.ready()[0]


def test_ca_crt_missing_the_active_ca_is_repaired_without_rotation(fake: FakeKube) -> None:
    ca = generate.make_ca(generate.utcnow(), timedelta(days=30))
    fake.put(
        SECRETS, secret(NS, SETTINGS.secret_name, {"tls.crt": ca.cert_pem, "tls.key": ca.key_pem})
    )
    [manager] = replicas(fake, 1)
    manager.reconcile_now()
    assert secret_data(fake)["tls.crt"] == ca.cert_pem
    assert secret_data(fake)["ca.crt"] == ca.cert_pem


@pytest.mark.parametrize(
    ("verb", "resource", "message"),
    [
        ("create", SECRETS, f"cannot `create` secrets `injector-webhook-ca` in namespace `{NS}`"),
        ("get", SECRETS, f"cannot `get` secrets `injector-webhook-ca` in namespace `{NS}`"),
        ("patch", MWCS, "cannot `patch` mutatingwebhookconfigurations `injector` (cluster-scoped)"),
    ],
)
def test_forbidden_names_the_verb_and_resource(
    verb: str, resource: str, message: str, fake: FakeKube, running: list[CertManager]
) -> None:
    fake.deny(verb, resource)
    [manager] = replicas(fake, 1)
    with pytest.raises(PermissionDeniedError) as err:
        manager.reconcile_now()
    assert message in str(err.value) and "grant it in the" in str(err.value)
    start_all([manager], running)
    wait_for(lambda: manager.last_error is not None, what="an error")
    assert message in (manager.last_error or "")
    assert not manager.ready()[0]
    fake.allow(verb, resource)
    wait_for(lambda: manager.ready()[0], what="ready once RBAC is fixed")


def test_missing_webhook_configuration_serves_but_stays_unready(fake: FakeKube) -> None:
    fake.delete(MWCS, "injector")
    [manager] = replicas(fake, 1)
    with pytest.raises(NotFoundError, match="not found: install it"):
        manager.reconcile_now()
    assert manager.leaf is not None, "the replica serves so the caBundle can catch up"
    ok, why = manager.ready()
    assert not ok and "has not been read" in why


def patches(result: str) -> float:
    sample = REGISTRY.get_sample_value(
        "sidecar_injector_cabundle_patches_total", {"result": result}
    )
    return sample or 0.0


def test_metrics_count_cabundle_patches_and_expiry(fake: FakeKube) -> None:
    ok, error = patches("ok"), patches("error")
    [manager] = replicas(fake, 1)
    manager.reconcile_now()
    manager.reconcile_now()
    assert patches("ok") - ok == 1, "the second pass had nothing to write"
    ca_left = REGISTRY.get_sample_value("sidecar_injector_cert_expiry_seconds", {"kind": "ca"})
    assert ca_left is not None and 29.9 * 86400 < ca_left <= 30 * 86400 + 300

    fake.put(MWCS, webhook_config("injector", [HOOK]))
    fake.deny("patch", MWCS)
    with pytest.raises(PermissionDeniedError):
        manager.reconcile_now()
    assert patches("error") - error == 1
    assert patches("ok") - ok == 1


def test_leaf_renews_from_the_held_ca_while_the_api_is_down(fake: FakeKube) -> None:
    clock = FakeClock()
    [manager] = replicas(fake, 1, clock)
    manager.reconcile_now()
    assert manager.leaf is not None and manager.ca is not None
    first = manager.leaf.cert.serial_number

    fake.outage("refuse")
    clock.advance(timedelta(days=5))  # 7-day leaf: 2/3 used
    with pytest.raises(ClusterAccessError, match="cannot reach the API server"):
        manager.reconcile_now()
    assert manager.leaf.cert.serial_number != first
    assert generate.issued_by(manager.leaf.cert, manager.ca.active.cert)
    assert manager.holder.info is not None
    assert manager.holder.info.serial == manager.leaf.cert.serial_number
    assert manager.ready()[0], "the last observed caBundle still trusts the renewed leaf"


def test_wall_clock_check_renews_the_leaf_without_api_calls(
    fake: FakeKube, running: list[CertManager]
) -> None:
    clock = FakeClock()
    [manager] = replicas(fake, 1, clock, resync_interval=3600.0, renewal_check_interval=0.05)
    start_all([manager], running)
    wait_for(lambda: manager.ready()[0], what="ready")
    first = manager.leaf.cert.serial_number  # type: ignore[union-attr]
    time.sleep(0.2)  # let the watches' initial list wake-ups settle
    reads = fake.count("get", SECRETS)

    clock.advance(timedelta(days=5))  # 2/3 of the 7-day leaf used
    wait_for(lambda: manager.leaf.cert.serial_number != first, what="renewal")  # type: ignore[union-attr]
    assert manager.holder.info is not None
    assert manager.holder.info.serial == manager.leaf.cert.serial_number  # type: ignore[union-attr]
    assert fake.count("get", SECRETS) == reads, "the wall-clock check made no API call"
    assert manager.ready()[0]
