"""Text splices at YAML node positions: exact resulting text for each shape of document."""

from __future__ import annotations

import pytest

from gitbot.edit.splice import CannotEdit, insert_fields, replace_scalar
from gitbot.yamldoc import parse_yaml

C = ("spec", "template", "spec", "containers", 0)


def apply(text: str, splice) -> str:  # type: ignore[no-untyped-def]
    return text[: splice.start] + splice.text + text[splice.end:]


def doc(text: str, index: int = 0):  # type: ignore[no-untyped-def]
    return parse_yaml(text, "t.yaml")[index]


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx   # pinned below
          resources:
            requests:
              cpu: 500m     # sized for Black Friday
              memory: "512Mi"
            limits:
              memory: '1Gi'
"""


def test_replace_plain_scalar_keeps_comment_and_spacing() -> None:
    d = doc(DEPLOYMENT)
    out = apply(DEPLOYMENT, replace_scalar(DEPLOYMENT, d, C + ("resources", "requests", "cpu"), "250m"))
    assert out == DEPLOYMENT.replace("cpu: 500m     # sized", "cpu: 250m     # sized")


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        (("resources", "requests", "memory"), 'memory: "512Mi"', 'memory: "384Mi"'),
        (("resources", "limits", "memory"), "memory: '1Gi'", "memory: '384Mi'"),
    ],
)
def test_replace_quoted_scalar_keeps_quotes(path: tuple[str, ...], old: str, new: str) -> None:
    d = doc(DEPLOYMENT)
    out = apply(DEPLOYMENT, replace_scalar(DEPLOYMENT, d, C + path, "384Mi"))
    assert out == DEPLOYMENT.replace(old, new)


def test_insert_missing_cpu_before_existing_memory() -> None:
    text = DEPLOYMENT
    d = doc(text)
    out = apply(text, insert_fields(text, d, C + ("resources", "limits"), {"cpu": "2"}))
    assert out == text.replace(
        "            limits:\n              memory: '1Gi'\n",
        "            limits:\n              cpu: 2\n              memory: '1Gi'\n",
    )


def test_insert_whole_resources_block_at_end_of_container() -> None:
    text = """\
kind: Pod
apiVersion: v1
spec:
  containers:
  - name: a
    image: x
    ports:
    - containerPort: 80   # http
  - name: b
    image: y
"""
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("spec", "containers", 0), {"resources": {"requests": {"memory": "64Mi", "cpu": "10m"}}}))
    assert out == text.replace(
        "    - containerPort: 80   # http\n",
        "    - containerPort: 80   # http\n    resources:\n      requests:\n        cpu: 10m\n        memory: 64Mi\n",
    )


def test_insert_uses_the_files_indent_step() -> None:
    text = "kind: Pod\napiVersion: v1\nspec:\n    containers:\n        -   name: a\n            resources:\n                limits:\n                    memory: 1Gi\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("spec", "containers", 0, "resources"), {"requests": {"memory": "512Mi"}}))
    assert out == text.replace(
        "            resources:\n",
        "            resources:\n                requests:\n                    memory: 512Mi\n",
    )


def test_empty_flow_mapping_becomes_block() -> None:
    text = "kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - name: a\n      resources: {}\n      image: x\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("spec", "containers", 0, "resources"), {"requests": {"cpu": "100m"}}))
    assert out == "kind: Pod\napiVersion: v1\nspec:\n  containers:\n    - name: a\n      resources:\n        requests:\n          cpu: 100m\n      image: x\n"


def test_null_value_becomes_block() -> None:
    text = "spec:\n  containers:\n    - name: a\n      resources:\n      image: x\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("spec", "containers", 0, "resources"), {"limits": {"memory": "1Gi"}}))
    assert out == "spec:\n  containers:\n    - name: a\n      resources:\n        limits:\n          memory: 1Gi\n      image: x\n"


def test_flow_mapping_insert_before_sibling() -> None:
    text = "resources:\n  requests: {memory: 128Mi}\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("resources", "requests"), {"cpu": "50m"}))
    assert out == "resources:\n  requests: {cpu: 50m, memory: 128Mi}\n"


def test_flow_mapping_append() -> None:
    text = "resources:\n  requests: {cpu: 50m}\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("resources", "requests"), {"memory": "64Mi"}))
    assert out == "resources:\n  requests: {cpu: 50m, memory: 64Mi}\n"


def test_json_mapping_insert_is_quoted() -> None:
    text = '{"resources": {"limits": {"memory": "1Gi"}}}\n'
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("resources",), {"requests": {"memory": "512Mi"}}))
    assert out == '{"resources": {"requests": {"memory": "512Mi"}, "limits": {"memory": "1Gi"}}}\n'


def test_crlf_file_keeps_crlf() -> None:
    text = "spec:\r\n  resources:\r\n    limits:\r\n      memory: 1Gi\r\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("spec", "resources"), {"requests": {"memory": "512Mi"}}))
    assert out == "spec:\r\n  resources:\r\n    requests:\r\n      memory: 512Mi\r\n    limits:\r\n      memory: 1Gi\r\n"
    d2 = doc(out)
    out2 = apply(out, replace_scalar(out, d2, ("spec", "resources", "limits", "memory"), "768Mi"))
    assert out2 == out.replace("memory: 1Gi", "memory: 768Mi")


def test_file_without_final_newline() -> None:
    text = "a:\n  cpu: 1"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("a",), {"memory": "1Gi"}))
    assert out == "a:\n  cpu: 1\n  memory: 1Gi"


def test_second_document_positions() -> None:
    text = "---\nkind: A\n---\n# second\nkind: B\nspec:\n  cpu: 1\n"
    d = doc(text, 1)
    out = apply(text, replace_scalar(text, d, ("spec", "cpu"), "500m"))
    assert out == "---\nkind: A\n---\n# second\nkind: B\nspec:\n  cpu: 500m\n"


def test_anchored_values_are_not_edited() -> None:
    text = "defaults: &res\n  cpu: 1\nspec:\n  resources: *res\n"
    d = doc(text)
    with pytest.raises(CannotEdit, match="shared through a YAML anchor"):
        replace_scalar(text, d, ("spec", "resources", "cpu"), "500m")
    with pytest.raises(CannotEdit, match="shared through a YAML anchor"):
        replace_scalar(text, d, ("defaults", "cpu"), "500m")


def test_block_scalar_is_refused() -> None:
    text = "cpu: |\n  1\n"
    with pytest.raises(CannotEdit, match="block scalar"):
        replace_scalar(text, doc(text), ("cpu",), "2")


def test_insert_after_last_block_scalar_value() -> None:
    text = "c:\n  script: |\n    echo hi\n  limits:\n    memory: 1Gi\nd: 1\n"
    d = doc(text)
    out = apply(text, insert_fields(text, d, ("c", "limits"), {"cpu": "1"}))
    assert out == "c:\n  script: |\n    echo hi\n  limits:\n    cpu: 1\n    memory: 1Gi\nd: 1\n"
