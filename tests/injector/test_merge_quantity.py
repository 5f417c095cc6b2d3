"""Strategic merge (Kubernetes semantics and order) and resource quantities."""

from __future__ import annotations

from decimal import Decimal

import pytest

from injector import quantity
from injector.merge import merge, merge_list


def test_maps_merge_recursively_and_none_deletes() -> None:
    original = {"a": {"x": 1, "y": 2}, "b": 1}
    assert merge(original, {"a": {"y": 3, "z": 4}, "b": None}) == {"a": {"x": 1, "y": 3, "z": 4}}
    assert original == {"a": {"x": 1, "y": 2}, "b": 1}, "merge must not mutate"


def test_keyed_lists_merge_by_key_and_other_lists_replace() -> None:
    pod = {"containers": [{"name": "app", "args": ["a"], "env": [{"name": "A", "value": "1"}]}]}
    patch = {"containers": [{"name": "app", "args": ["b"], "env": [{"name": "B", "value": "2"}]}]}
    merged = merge(pod, patch)
    assert merged["containers"][0]["args"] == ["b"]  # args: no merge key -> replaced
    assert [e["name"] for e in merged["containers"][0]["env"]] == ["B", "A"]


def test_order_new_patch_items_come_before_server_only_items() -> None:
    # apimachinery mergeSortedSlice: patch items (in patch order), server-only items after,
    # unless a server-only item stood before a patch item in the original.
    assert [
        v["name"] for v in merge_list([{"name": "user"}], [{"name": "a"}, {"name": "b"}], "name")
    ] == ["a", "b", "user"]
    original = [{"name": "x"}, {"name": "a"}, {"name": "y"}]
    merged = merge_list(original, [{"name": "a", "v": 1}, {"name": "new"}], "name")
    assert [v["name"] for v in merged] == ["x", "a", "new", "y"]
    assert merged[1] == {"name": "a", "v": 1}


def test_untouched_items_are_shared_by_identity() -> None:
    app = {"name": "app", "env": [{"name": str(i)} for i in range(10)]}
    merged = merge({"containers": [app]}, {"containers": [{"name": "proxy"}]})
    assert any(c is app for c in merged["containers"])


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2000m", "2"),
        ("1500m", "1500m"),
        ("0.5", "500m"),
        ("1024Mi", "1Gi"),
        ("1000Mi", "1000Mi"),
        ("128Mi", "128Mi"),
        ("4000m", "4"),
        ("12000", "12k"),
        ("1e3", "1e3"),  # an exponent stays an exponent (Go: DecimalExponent)
        ("129e6", "129e6"),
        ("1.5e3", "1500"),
        ("2.5e-3", "2500e-6"),
        ("0", "0"),
        ("100m", "100m"),
        ("2Gi", "2Gi"),
    ],
)
def test_canonical_quantities(text: str, canonical: str) -> None:
    assert quantity.canonical(text) == canonical
    assert quantity.parse(canonical) == quantity.parse(text)


@pytest.mark.parametrize("bad", ["", "lots", "1.2.3", "10XB", " 1", "1 ", "--1", "1\n"])
def test_invalid_quantities(bad: str) -> None:
    assert not quantity.is_valid(bad)
    with pytest.raises(ValueError, match="not a valid resource quantity"):
        quantity.parse(bad)


def test_quantity_values() -> None:
    assert quantity.parse("1Ki") == Decimal(1024)
    assert quantity.parse("250m") == Decimal("0.25")


def test_one_of_fields_take_the_patch_member_only() -> None:
    ours = {
        "containers": [
            {"name": "p", "readinessProbe": {"httpGet": {"port": 15021}, "periodSeconds": 15}}
        ]
    }
    user = {"containers": [{"name": "p", "readinessProbe": {"exec": {"command": ["true"]}}}]}
    probe = merge(ours, user)["containers"][0]["readinessProbe"]
    assert probe == {"exec": {"command": ["true"]}, "periodSeconds": 15}
    env = merge(
        {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "a"}}}]},
        {"env": [{"name": "X", "value": "1"}]},
    )
    assert env["env"] == [{"name": "X", "value": "1"}]
    volumes = merge(
        {"volumes": [{"name": "v", "emptyDir": {}}]},
        {"volumes": [{"name": "v", "secret": {"secretName": "s"}}]},
    )
    assert volumes["volumes"] == [{"name": "v", "secret": {"secretName": "s"}}]


def test_one_of_fields_keep_the_member_a_patch_does_not_name() -> None:
    original = {
        "volumes": [{"name": "v", "emptyDir": {}}],
        "livenessProbe": {"tcpSocket": {"port": 1}},
    }
    merged = merge(original, {"volumes": [{"name": "v"}], "livenessProbe": {"periodSeconds": 3}})
    assert merged["volumes"] == [{"name": "v", "emptyDir": {}}]
    assert merged["livenessProbe"] == {"tcpSocket": {"port": 1}, "periodSeconds": 3}
    assert merge({"emptyDir": {}}, {"emptyDir": {"medium": "Memory"}}) == {
        "emptyDir": {"medium": "Memory"}
    }
