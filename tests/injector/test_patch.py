"""The linear JSON Patch builder: correct for any pair of documents, small for ours."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
from hypothesis import given, settings
from hypothesis import strategies as st

from injector.patch import escape, make_patch

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text("ab/~", max_size=3))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text("ab/~.", min_size=1, max_size=3), children, max_size=5),
    ),
    max_leaves=30,
)
documents = st.dictionaries(st.sampled_from(["metadata", "spec", "kind"]), json_values, max_size=3)


@settings(max_examples=300, deadline=None)
@given(documents, documents)
def test_patch_turns_any_document_into_any_other(old: dict[str, Any], new: dict[str, Any]) -> None:
    original = copy.deepcopy(old)
    ops = make_patch(old, new)
    assert old == original, "make_patch must not mutate its input"
    assert jsonpatch.apply_patch(old, ops) == new


def test_identical_subtrees_produce_no_ops() -> None:
    shared = {"containers": [{"name": "app", "env": [{"name": str(i)} for i in range(1000)]}]}
    assert make_patch({"spec": shared}, {"spec": shared}) == []


def test_appending_uses_dash_and_prepending_uses_index() -> None:
    app = {"name": "app"}
    ops = make_patch({"spec": {"c": [app]}}, {"spec": {"c": [app, {"name": "proxy"}]}})
    assert ops == [{"op": "add", "path": "/spec/c/-", "value": {"name": "proxy"}}]
    ops = make_patch({"spec": {"c": [app]}}, {"spec": {"c": [{"name": "init"}, app]}})
    assert ops == [{"op": "add", "path": "/spec/c/0", "value": {"name": "init"}}]


def test_missing_maps_are_added_whole() -> None:
    ops = make_patch(
        {"metadata": {"name": "p"}}, {"metadata": {"name": "p", "annotations": {"a/b": "1"}}}
    )
    assert ops == [{"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}}]


def test_keys_are_escaped() -> None:
    assert escape("sidecar.istio.io/status") == "sidecar.istio.io~1status"
    assert escape("a~b") == "a~0b"
    ops = make_patch({"metadata": {"labels": {}}}, {"metadata": {"labels": {"x/y~z": "1"}}})
    assert ops[0]["path"] == "/metadata/labels/x~1y~0z"


def test_status_and_managed_fields_are_ignored() -> None:
    old = {"metadata": {"managedFields": [{"a": 1}]}, "status": {"phase": "Pending"}}
    new = {"metadata": {"managedFields": [{"b": 2}]}, "status": {}}
    assert make_patch(old, new) == []


def test_type_change_is_a_replace() -> None:
    assert make_patch({"spec": {"x": 1}}, {"spec": {"x": True}}) == [
        {"op": "replace", "path": "/spec/x", "value": True}
    ]
