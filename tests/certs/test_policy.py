"""Rotation thresholds, bundle merging and bundle-before-use, with a fake clock."""

from __future__ import annotations

from datetime import timedelta

from certs import generate, policy

T0 = generate.utcnow().replace(microsecond=0)
BACK = timedelta(minutes=5)


def test_ca_rotates_when_less_than_a_third_of_life_is_left() -> None:
    ca = generate.make_ca(T0, timedelta(days=300) - BACK).cert  # lifetime exactly 300 days
    assert not policy.ca_needs_rotation(ca, T0 + timedelta(days=199))
    assert policy.ca_needs_rotation(ca, T0 + timedelta(days=201))
    reason = policy.ca_rotation_reason(ca, T0 + timedelta(days=201))
    assert reason is not None and "1/3" in reason
    assert "expired" in (policy.ca_rotation_reason(ca, T0 + timedelta(days=301)) or "")


def test_leaf_renews_at_two_thirds_of_life_used() -> None:
    ca = generate.make_ca(T0, timedelta(days=365))
    leaf = generate.make_leaf(ca, T0, timedelta(days=3) - BACK, ["a.svc"]).cert  # 3-day life
    assert not policy.leaf_needs_renewal(leaf, T0 + timedelta(hours=47))
    assert policy.leaf_needs_renewal(leaf, T0 + timedelta(hours=48, seconds=1))
    renew_at = leaf.not_valid_before_utc + timedelta(days=2)  # exactly 2/3 of its life
    assert not policy.leaf_needs_renewal(leaf, renew_at - timedelta(seconds=1))
    assert policy.leaf_needs_renewal(leaf, renew_at)


def test_merge_bundle_active_first_dedupes_and_prunes_expired() -> None:
    old = generate.make_ca(T0 - timedelta(days=20), timedelta(days=30)).cert
    expired = generate.make_ca(T0 - timedelta(days=20), timedelta(days=10)).cert
    active = generate.make_ca(T0, timedelta(days=30)).cert
    leaf = generate.make_leaf(
        generate.make_ca(T0, timedelta(days=3)), T0, timedelta(days=1), ["a.svc"]
    ).cert
    previous = generate.to_pem([old, expired, active, old, leaf])
    assert policy.merge_bundle(active, previous, T0) == (active, old)
    assert policy.merge_bundle(active, b"\x00garbage", T0) == (active,)
    assert policy.merge_bundle(active, b"", T0) == (active,)
    assert policy.merge_bundle(active, previous, T0 + timedelta(days=11)) == (active,)


def test_bundle_before_use_waits_for_the_grace_delay() -> None:
    grace = timedelta(seconds=60)
    old = generate.make_ca(T0 - timedelta(days=250), timedelta(days=365))
    new = generate.make_ca(T0, timedelta(days=365))
    observer = policy.LiveBundleObserver()

    observer.observe([old.cert], T0 - timedelta(days=250))
    assert policy.signing_ca([old, new], observer.since, T0, grace) == old  # new not live yet

    observer.observe([new.cert, old.cert], T0 + timedelta(seconds=10))
    assert policy.signing_ca([old, new], observer.since, T0 + timedelta(seconds=69), grace) == old
    assert policy.signing_ca([old, new], observer.since, T0 + timedelta(seconds=70), grace) == new

    observer.observe([old.cert], T0 + timedelta(seconds=80))  # clobbered: presence restarts
    observer.observe([new.cert, old.cert], T0 + timedelta(seconds=90))
    assert policy.signing_ca([old, new], observer.since, T0 + timedelta(seconds=100), grace) == old


def test_first_install_signs_with_the_only_ca_at_once() -> None:
    only = generate.make_ca(T0, timedelta(days=365))
    observer = policy.LiveBundleObserver()
    assert policy.signing_ca([only], observer.since, T0, timedelta(seconds=60)) == only
    assert policy.signing_ca([], observer.since, T0, timedelta(seconds=60)) is None
    leaf = generate.make_leaf(only, T0, timedelta(days=1), ["a.svc"]).cert
    assert not observer.trusts(leaf)
    observer.observe([only.cert], T0)
    assert observer.trusts(leaf)
