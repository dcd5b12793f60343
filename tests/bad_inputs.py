"""The bad-input corpus: repositories, configs and catalogs that gitbot must survive.

Every case is a small repository holding two healthy Deployments (``shop/good`` and ``shop/odd``,
both with usage in the session's snapshot) plus one bad thing. ``test_bad_inputs.py`` runs
``gitbot plan --write`` on each and checks the outcome the case expects: the exit code, one
diagnostic line naming the file or object and saying what is wrong, no traceback, the healthy
workload still edited when the run can go on, and nothing else written (all of it when it cannot).

Cases are generated per category from small lists of bad texts and the places they can sit (a plain
manifest, a Kustomize resource, a kustomization, Helm values ...); ``CASES`` is the whole corpus.
Placeholders in file contents: ``{outside}`` is a directory next to the repository (never inside it)
that holds a Deployment named ``leak``; a case must never read it.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from typing import Iterator, Mapping

MI = 2**20
PARTIAL = 6  # the bad input breaks a render target (a Kustomize root, a Helm release): the rest is planned, exit 6

GOOD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: good
  namespace: shop
spec:
  replicas: 2
  selector:
    matchLabels:
      app: good
  template:
    metadata:
      labels:
        app: good
    spec:
      containers:
        - name: app
          image: nginx:1.27
          resources:
            requests:
              cpu: 800m
              memory: 800Mi
            limits:
              memory: 800Mi
"""

# shop/odd: a second workload whose container fields the quantity and container cases replace
ODD = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: odd
  namespace: shop
spec:
  replicas: 1
  selector:
    matchLabels:
      app: odd
  template:
    metadata:
      labels:
        app: odd
    spec:
      containers:
{containers}
"""

ODD_CONTAINER = """\
        - name: app
          image: nginx:1.27
          resources:
            requests:
              cpu: {cpu}
              memory: {memory}
"""

LEAK = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: leak
  namespace: shop
spec:
  selector:
    matchLabels: {app: leak}
  template:
    metadata:
      labels: {app: leak}
    spec:
      containers:
        - name: app
          image: nginx
          resources:
            requests: {cpu: 100m, memory: 100Mi}
"""

CHART = {
    "charts/web/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "charts/web/values.yaml": "resources:\n  requests:\n    cpu: 100m\n    memory: 128Mi\n",
    "charts/web/templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
          resources: {{- toYaml .Values.resources | nindent 12 }}
""",
}

KUSTOMIZE = {
    "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n",
    "deploy/base/deployment.yaml": LEAK.replace("leak", "api"),
    "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\nnamespace: shop\n",
}


@dataclass(frozen=True)
class Case:
    """One bad input. ``expect`` are substrings that one diagnostic line must all contain (the file
    or object it names first); the line is a skipped input or warning (exit 0) or the error. An
    empty ``expect``: nothing is wrong with the file (a CRD), so no line may name it."""

    id: str
    category: str
    files: Mapping[str, str | bytes]
    expect: tuple[str, ...]
    exit_code: int = 0  # PARTIAL when a render target fails: shop/good is still edited
    symlinks: Mapping[str, str] = field(default_factory=dict)  # path -> target ({outside} allowed)
    config: str | bytes | None = None  # .gitbot.yaml
    catalog: str | bytes | None = None  # a CSV passed as --catalog
    odd: str | None = None  # shop/odd's containers block (default: one healthy container)
    good_edited: bool = True  # the run goes on: shop/good's file gets its edit


def odd_containers(cpu: str = "200m", memory: str = "256Mi") -> str:
    return ODD_CONTAINER.format(cpu=cpu, memory=memory).rstrip("\n")


# ---- YAML that does not parse -------------------------------------------------------------------

MALFORMED = {
    "unclosed-flow-sequence": "kind: ConfigMap\ndata: [a, b\n",
    "unclosed-flow-mapping": "kind: ConfigMap\nmetadata: {name: x\n",
    "stray-closing-brace": "kind: ConfigMap\n}\n",
    "bad-indentation": "kind: ConfigMap\nmetadata:\n  name: x\n   labels: {}\n",
    "tab-indentation": "kind: ConfigMap\nmetadata:\n\tname: x\n",
    "unterminated-double-quote": 'kind: ConfigMap\ndata:\n  a: "open\n',
    "unterminated-single-quote": "kind: ConfigMap\ndata:\n  a: 'open\n",
    "mapping-in-plain-scalar": "kind: ConfigMap\ndata:\n  a: b: c\n",
    "sequence-after-mapping": "kind: ConfigMap\ndata:\n  a: 1\n- b\n",
    "bad-escape": 'kind: ConfigMap\ndata:\n  a: "\\q"\n',
    "undefined-alias": "kind: ConfigMap\ndata: *nowhere\n",
    "bad-tag": "kind: ConfigMap\ndata: !!binary 12%%\n",
    "duplicate-directive": "%YAML 1.2\n%YAML 1.2\n---\nkind: Secret\n",
    "block-scalar-bad-indent": "kind: ConfigMap\ndata:\n  a: |\n    x\n  y\n z\n",
}

DUPLICATE_KEYS = {
    "top-level": "apiVersion: v1\nkind: ConfigMap\nkind: Secret\nmetadata: {name: x}\n",
    "in-metadata": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n",
    "in-flow-mapping": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, name: b}\n",
    "in-resources": GOOD.replace("good", "twin").replace("              cpu: 800m\n", "              cpu: 800m\n              cpu: 1\n"),
    "quoted-and-plain": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  'name': b\n",
}


def _billion_laughs(levels: int, width: int) -> str:
    lines = ['a0: &a0 "lol"']
    for i in range(1, levels):
        refs = ", ".join(f"*a{i - 1}" for _ in range(width))
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\ndata:\n" + "\n".join("  " + line for line in lines) + "\n"


def _deep_flow(depth: int) -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * depth + "]" * depth + "\n"


def _deep_block(depth: int) -> str:
    body = "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "leaf: 1\n"
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata:\n" + "".join("  " + line + "\n" for line in body.splitlines())


EXPANSION = {
    "billion-laughs-9x9": (_billion_laughs(9, 9), "aliases"),
    "billion-laughs-20x2": (_billion_laughs(20, 2), "aliases"),
    "billion-laughs-5x30": (_billion_laughs(5, 30), "aliases"),
    "deep-flow-5000": (_deep_flow(5000), "nesting"),
    "deep-flow-100000": (_deep_flow(100_000), "nesting"),
    "deep-block-3000": (_deep_block(3000), "nesting"),
}


def _yaml_places(name: str, text: str, reason: tuple[str, ...]) -> Iterator[tuple[str, dict[str, str | bytes], tuple[str, ...]]]:
    """The same bad text as a plain manifest, a Kustomize resource, a kustomization and Helm values."""
    yield "plain", {"apps/bad/broken.yaml": text}, ("apps/bad/broken.yaml", *reason)
    yield "kustomize-resource", {**KUSTOMIZE, "deploy/base/broken.yaml": text,
                                 "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - broken.yaml\n"}, \
        ("deploy/base/broken.yaml", *reason)
    yield "kustomization", {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": text}, \
        ("deploy/overlays/prod/kustomization.yaml", *reason)
    yield "helm-values", {**CHART, "charts/web/values.yaml": text}, ("charts/web/values.yaml", *reason)


def _exit(place: str) -> int:
    """A bad plain manifest is a skipped input; anywhere else it breaks the target that reads it."""
    return 0 if place == "plain" else PARTIAL


def yaml_cases() -> Iterator[Case]:
    for name, text in MALFORMED.items():
        for place, files, expect in _yaml_places(name, text, ("invalid YAML",)):
            yield Case(f"malformed-yaml/{name}/{place}", "malformed YAML", files, expect, exit_code=_exit(place))
    for name, text in DUPLICATE_KEYS.items():
        for place, files, expect in _yaml_places(name, text, ("duplicate key",)):
            yield Case(f"duplicate-keys/{name}/{place}", "duplicate keys", files, expect, exit_code=_exit(place))
    for name, (text, word) in EXPANSION.items():
        for place, files, expect in _yaml_places(name, text, (word,)):
            yield Case(f"expansion/{name}/{place}", "alias bombs and deep nesting", files, expect, exit_code=_exit(place))


# ---- real-world YAML that kubectl accepts ------------------------------------------------------------

# every tag kubectl (go-yaml) accepts: the file loads, and nothing is said about it
TAGGED = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: tagged
  namespace: shop
  annotations:
    built: !!timestamp 2024-01-02T03:04:05Z
    ref: !Ref build-id
data:
  str: !!str 123
  int: !!int "42"
  float: !!float "1.5"
  bool: !!bool "true"
  nothing: !!null ""
  binary: !!binary aGVsbG8=
  map: !!map {a: 1}
  seq: !!seq [1, 2]
  set: !!set {x, y}
  omap: !!omap [x: 1, y: 2]
  pairs: !!pairs [x: 1, x: 2]
  value: {=: 5}
  value-tag: {!!value =: 6}
  reference: !reference [.defaults, script]
  merged:
    !!merge <<: &base {k: v}
    own: 1
"""

REUSED_ANCHORS = {
    "plain": ({"apps/bad/anchors.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: anchors\n  namespace: shop\n"
                                        "  labels: &x {a: b}\ndata: &x {k: v}\n"}, "apps/bad/anchors.yaml:7"),
    "kustomize-resource": ({**KUSTOMIZE, "deploy/base/deployment.yaml": LEAK.replace("leak", "api").replace(
        "    matchLabels: {app: api}", "    matchLabels: &labels {app: api}").replace("      labels: {app: api}", "      labels: &labels {app: api}")},
        "deploy/base/deployment.yaml:11"),
    "kustomization": ({**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources: &x\n  - ../../base\nnamespace: &x shop\n"},
                      "deploy/overlays/prod/kustomization.yaml:3"),
    "helm-values": ({**CHART, "charts/web/values.yaml": "resources: &x\n  requests:\n    cpu: 100m\n    memory: 128Mi\nother: &x {}\n"},
                    "charts/web/values.yaml:5"),
}


def real_yaml_cases() -> Iterator[Case]:
    yield Case("real-yaml/every-tag/plain", "real-world YAML", {"apps/bad/tagged.yaml": TAGGED}, ())
    yield Case("real-yaml/every-tag/kustomize-resource", "real-world YAML",
               {**KUSTOMIZE, "deploy/base/tagged.yaml": TAGGED.replace("!!value =: 6", "=: 6"),  # kustomize's own parser refuses a tagged key
                "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - tagged.yaml\n"}, ())
    for place, (files, where) in REUSED_ANCHORS.items():
        yield Case(f"real-yaml/reused-anchor/{place}", "real-world YAML", files,
                   (where, "anchor &", "is defined again (first at line", "the later definition wins"))


# ---- files that are not YAML text -----------------------------------------------------------------

BINARY: dict[str, bytes] = {
    "nul-bytes": b"apiVersion: v1\nkind: ConfigMap\x00\x00\x01\n",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64)),
    "gzip": gzip.compress(GOOD.encode(), mtime=0),
    "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(200),
    "random": bytes((i * 131 + 17) % 256 for i in range(512)),
}

NOT_UTF8: dict[str, bytes] = {
    "latin-1": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: caf\xe9}\n".encode("latin-1"),
    "cp1252-quotes": "apiVersion: v1\nkind: ConfigMap\ndata: {a: \u201cq\u201d}\n".encode("cp1252"),
    "utf-16-le": GOOD.replace("good", "wide").encode("utf-16"),
    "utf-16-be": b"\xfe\xff" + GOOD.replace("good", "wide").encode("utf-16-be"),
    "truncated-sequence": b"apiVersion: v1\nkind: ConfigMap\ndata: {a: \xe2\x82}\n",
    "overlong-encoding": b"apiVersion: v1\nkind: ConfigMap\ndata: {a: \xc0\xaf}\n",
}


def encoding_cases() -> Iterator[Case]:
    for name, blob in BINARY.items():
        yield Case(f"binary/{name}/plain", "binary files", {"apps/bad/blob.yaml": blob}, ("apps/bad/blob.yaml", "binary"))
        yield Case(f"binary/{name}/helm-values", "binary files", {**CHART, "charts/web/values.yaml": blob},
                   ("charts/web/values.yaml", "binary"), exit_code=PARTIAL)
        yield Case(f"binary/{name}/kustomize-resource", "binary files",
                   {**KUSTOMIZE, "deploy/base/deployment.yaml": blob}, ("deploy/base/deployment.yaml", "binary"), exit_code=PARTIAL)
    for name, blob in NOT_UTF8.items():
        yield Case(f"not-utf8/{name}/plain", "non-UTF-8", {"apps/bad/text.yaml": blob}, ("apps/bad/text.yaml", "not UTF-8"))
        yield Case(f"not-utf8/{name}/helm-values", "non-UTF-8", {**CHART, "charts/web/values.yaml": blob},
                   ("charts/web/values.yaml", "not UTF-8"), exit_code=PARTIAL)
        yield Case(f"not-utf8/{name}/kustomize-resource", "non-UTF-8",
                   {**KUSTOMIZE, "deploy/base/deployment.yaml": blob}, ("deploy/base/deployment.yaml", "not UTF-8"), exit_code=PARTIAL)


def bom_case() -> Iterator[Case]:
    """Not bad at all: a UTF-8 byte-order mark is read, and the edit lands where it belongs."""
    yield Case("not-utf8/utf-8-bom-is-fine/plain", "non-UTF-8", {"apps/good/deployment.yaml": "\ufeff" + GOOD}, ())


def size_cases() -> Iterator[Case]:
    big = GOOD.replace("good", "big") + "---\n" + "".join(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\ndata: {{a: '{'x' * 1000}'}}\n---\n" for i in range(11_000))
    yield Case("huge/plain-default-cap", "huge files", {"apps/bad/huge.yaml": big}, ("apps/bad/huge.yaml", "larger than 10 MiB"))
    yield Case("huge/helm-values-default-cap", "huge files", {**CHART, "charts/web/values.yaml": "# " + "x" * (11 * MI) + "\n"},
               ("charts/web/values.yaml", "larger than 10 MiB"), exit_code=PARTIAL)
    small_cap = "limits:\n  max_file_size: 2Ki\n"
    padded = GOOD.replace("good", "padded") + "# " + "x" * 3000 + "\n"
    yield Case("huge/plain-configured-cap", "huge files", {"apps/bad/padded.yaml": padded},
               ("apps/bad/padded.yaml", "larger than 2 KiB"), config=small_cap)
    yield Case("huge/kustomize-resource-configured-cap", "huge files", {**KUSTOMIZE, "deploy/base/deployment.yaml": padded},
               ("deploy/base/deployment.yaml", "larger than 2 KiB"), config=small_cap, exit_code=PARTIAL)
    yield Case("huge/kustomization-configured-cap", "huge files",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n# " + "x" * 3000 + "\n"},
               ("deploy/overlays/prod/kustomization.yaml", "larger than 2 KiB"), config=small_cap, exit_code=PARTIAL)


# ---- Helm and Kustomize structure -----------------------------------------------------------------

TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
"""


def helm_cases() -> Iterator[Case]:
    where = ("apps/bad/templates/deployment.yaml", "Helm template")
    yield Case("helm-template/templates-dir-without-chart", "Helm templates outside a chart",
               {"apps/bad/templates/deployment.yaml": TEMPLATE}, where)
    yield Case("helm-template/values-reference-in-plain-file", "Helm templates outside a chart",
               {"apps/bad/deployment.yaml": GOOD.replace("800m", "{{ .Values.cpu }}").replace("good", "tpl")},
               ("apps/bad/deployment.yaml", "Helm template"))
    yield Case("helm-template/if-block", "Helm templates outside a chart",
               {"apps/bad/templates/deployment.yaml": "{{- if .Values.enabled }}\n" + TEMPLATE + "{{- end }}\n"}, where)
    yield Case("helm-template/include", "Helm templates outside a chart",
               {"apps/bad/templates/deployment.yaml": TEMPLATE + '  labels: {{ include "x.labels" . | nindent 4 }}\n'}, where)
    yield Case("helm-template/chart-yaml-broken", "Helm templates outside a chart",
               {**CHART, "charts/web/Chart.yaml": "apiVersion: v2\nname: [web\n"}, ("charts/web/Chart.yaml", "invalid YAML"), exit_code=PARTIAL)
    yield Case("helm-template/template-error", "Helm templates outside a chart",
               {**CHART, "charts/web/templates/bad.yaml": "{{ .Values.missing.deeper }}\n"}, ("charts/web", "nil pointer"), exit_code=PARTIAL)
    yield Case("helm-template/template-syntax", "Helm templates outside a chart",
               {**CHART, "charts/web/templates/bad.yaml": "{{ if }}\n"}, ("charts/web", "bad.yaml"), exit_code=PARTIAL)


KUSTOMIZE_ERRORS: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "missing-resource-file": ({"deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - missing.yaml\n"},
                              ("deploy/base/kustomization.yaml", "deploy/base/missing.yaml", "does not exist")),
    "resource-dir-without-kustomization": ({"deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - empty\n",
                                            "deploy/base/empty/README.md": "nothing\n"},
                                           ("deploy/base/kustomization.yaml", "'empty'", "without a kustomization file")),
    "unknown-field": ({"deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\nresourcez:\n  - x.yaml\n"},
                      ("deploy/overlays/prod", "resourcez")),
    "patch-target-missing": ({"deploy/overlays/prod/kustomization.yaml":
                              "resources:\n  - ../../base\npatches:\n  - path: patch.yaml\n",
                              "deploy/overlays/prod/patch.yaml":
                              "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nothere}\nspec: {replicas: 3}\n"},
                             ("deploy/overlays/prod", "nothere")),
    "patch-file-missing": ({"deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\npatches:\n  - path: gone.yaml\n"},
                           ("deploy/overlays/prod/kustomization.yaml", "deploy/overlays/prod/gone.yaml", "does not exist")),
    "json6902-bad-op": ({"deploy/overlays/prod/kustomization.yaml":
                         "resources:\n  - ../../base\npatches:\n  - target: {kind: Deployment, name: api}\n    patch: |\n"
                         "      - op: explode\n        path: /spec/replicas\n        value: 2\n"},
                        ("deploy/overlays/prod", "explode")),
    "generator-file-missing": ({"deploy/overlays/prod/kustomization.yaml":
                                "resources:\n  - ../../base\nconfigMapGenerator:\n  - name: cfg\n    files: [absent.properties]\n"},
                               ("deploy/overlays/prod", "absent.properties")),
    "name-prefix-list": ({"deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\nnamePrefix: [a, b]\n"},
                         ("deploy/overlays/prod", "namePrefix")),
    "resources-not-a-list": ({"deploy/overlays/prod/kustomization.yaml": "resources: ../../base\n"},
                             ("deploy/overlays/prod/kustomization.yaml", "resources is not a list")),
    "kustomization-is-a-list": ({"deploy/overlays/prod/kustomization.yaml": "- resources\n- ../../base\n"},
                                ("deploy/overlays/prod/kustomization.yaml", "mapping")),
    "remote-resource": ({"deploy/overlays/prod/kustomization.yaml":
                         "resources:\n  - ../../base\n  - https://github.com/example/never/deploy?ref=v1\n"},
                        ("deploy/overlays/prod", "kustomize build failed", "github.com/example/never")),
    "duplicate-resource": ({"deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - deployment.yaml\n"},
                           ("deploy/overlays/prod", "kustomize build failed", "already registered")),
    "empty-kustomization": ({"deploy/overlays/prod/kustomization.yaml": ""}, ("deploy/overlays/prod/kustomization.yaml", "not a mapping")),
}

CYCLES: dict[str, tuple[dict[str, str], tuple[str, ...]]] = {
    "self": ({"deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n  - .\n"}, ("deploy/overlays/prod", "cycle")),
    "two": ({"deploy/a/kustomization.yaml": "resources:\n  - ../b\n", "deploy/b/kustomization.yaml": "resources:\n  - ../a\n"},
            ("deploy/a", "cycle")),
    "three": ({"deploy/a/kustomization.yaml": "resources:\n  - ../b\n", "deploy/b/kustomization.yaml": "resources:\n  - ../c\n",
               "deploy/c/kustomization.yaml": "resources:\n  - ../a\n"}, ("deploy/a", "cycle")),
    "base-to-overlay": ({"deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - ../overlays/prod\n"},
                        ("deploy/base", "cycle")),
    "through-component": ({"deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\ncomponents:\n  - ../../comp\n",
                           "deploy/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n"
                           "resources:\n  - ../overlays/prod\n"}, ("deploy/overlays/prod", "cycle")),
}


def kustomize_cases() -> Iterator[Case]:
    for name, (files, expect) in KUSTOMIZE_ERRORS.items():
        yield Case(f"kustomization-error/{name}", "kustomization errors", {**KUSTOMIZE, **files}, expect, exit_code=PARTIAL)
    for name, (files, expect) in CYCLES.items():
        yield Case(f"kustomize-cycle/{name}", "cyclic kustomize bases", {**KUSTOMIZE, **files}, expect, exit_code=PARTIAL)


# ---- leaving the repository -----------------------------------------------------------------------

def escape_cases() -> Iterator[Case]:
    outside = "symlink points outside the repository"
    yield Case("symlink/file-to-outside-manifest", "symlinks outside the repo", {}, ("apps/bad/leak.yaml", outside),
               symlinks={"apps/bad/leak.yaml": "{outside}/leak.yaml"})
    yield Case("symlink/file-to-etc", "symlinks outside the repo", {}, ("apps/bad/hosts.yaml", outside),
               symlinks={"apps/bad/hosts.yaml": "/etc/hosts"})
    yield Case("symlink/dir-to-outside", "symlinks outside the repo", {}, ("apps/outside", outside),
               symlinks={"apps/outside": "{outside}"})
    yield Case("symlink/dir-to-root", "symlinks outside the repo", {}, ("apps/root", outside), symlinks={"apps/root": "/"})
    yield Case("symlink/kustomize-resource", "symlinks outside the repo",
               {k: v for k, v in KUSTOMIZE.items() if k != "deploy/base/deployment.yaml"}, ("deploy/base/deployment.yaml", outside),
               symlinks={"deploy/base/deployment.yaml": "{outside}/leak.yaml"}, exit_code=PARTIAL)
    yield Case("symlink/kustomize-base-dir", "symlinks outside the repo",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n  - ../../linked\n"},
               ("deploy/linked", outside), symlinks={"deploy/linked": "{outside}"}, exit_code=PARTIAL)
    yield Case("symlink/helm-values", "symlinks outside the repo", {k: v for k, v in CHART.items() if not k.endswith("values.yaml")},
               ("charts/web/values.yaml", outside), symlinks={"charts/web/values.yaml": "{outside}/values.yaml"}, exit_code=PARTIAL)
    yield Case("symlink/helm-template", "symlinks outside the repo", dict(CHART), ("charts/web/templates/leak.yaml", outside),
               symlinks={"charts/web/templates/leak.yaml": "{outside}/leak.yaml"}, exit_code=PARTIAL)
    yield Case("symlink/dangling", "symlinks outside the repo", {}, ("apps/bad/gone.yaml", "broken symlink"),
               symlinks={"apps/bad/gone.yaml": "does-not-exist.yaml"})
    yield Case("symlink/loop", "symlinks outside the repo", {}, ("apps/bad/a.yaml", "symlink"),
               symlinks={"apps/bad/a.yaml": "b.yaml", "apps/bad/b.yaml": "a.yaml"})
    yield Case("symlink/config", "symlinks outside the repo", {}, (".gitbot.yaml", outside), exit_code=2,
               symlinks={".gitbot.yaml": "{outside}/config.yaml"}, good_edited=False)
    escapes = "outside the repository"
    yield Case("dotdot/kustomize-resource", "../ paths escaping the repo",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n  - ../../../../outside\n"},
               ("deploy/overlays/prod/kustomization.yaml", escapes), exit_code=PARTIAL)
    yield Case("dotdot/kustomize-resource-file", "../ paths escaping the repo",
               {**KUSTOMIZE, "deploy/base/kustomization.yaml": "resources:\n  - deployment.yaml\n  - ../../../outside/leak.yaml\n"},
               ("deploy/base/kustomization.yaml", escapes), exit_code=PARTIAL)
    yield Case("dotdot/kustomize-patch", "../ paths escaping the repo",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\npatches:\n  - path: ../../../../outside/leak.yaml\n"},
               ("deploy/overlays/prod/kustomization.yaml", escapes), exit_code=PARTIAL)
    yield Case("dotdot/kustomize-generator", "../ paths escaping the repo",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml":
                "resources:\n  - ../../base\nconfigMapGenerator:\n  - name: x\n    files: [../../../../outside/leak.yaml]\n"},
               ("deploy/overlays/prod/kustomization.yaml", escapes), exit_code=PARTIAL)
    yield Case("dotdot/kustomize-absolute", "../ paths escaping the repo",
               {**KUSTOMIZE, "deploy/overlays/prod/kustomization.yaml": "resources:\n  - ../../base\n  - /etc/hosts\n"},
               ("deploy/overlays/prod/kustomization.yaml", escapes), exit_code=PARTIAL)
    yield Case("dotdot/helm-values-file", "../ paths escaping the repo", dict(CHART), ("helm.releases[0].values[0]", escapes),
               exit_code=2, config="helm:\n  releases:\n    - chart: charts/web\n      name: web\n      namespace: shop\n"
                                   "      values: [../outside/values.yaml]\n", good_edited=False)
    yield Case("dotdot/helm-chart", "../ paths escaping the repo", {}, ("helm.releases[0].chart", escapes), exit_code=2,
               config="helm:\n  releases:\n    - chart: ../outside\n      name: web\n      namespace: shop\n", good_edited=False)
    argo = ("apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {{name: web, namespace: argocd}}\nspec:\n"
            "  destination: {{namespace: shop}}\n  source:\n    repoURL: https://example.com/repo.git\n    path: {path}\n"
            "    helm:\n      valueFiles: [{values}]\n")
    yield Case("dotdot/argo-values-file", "../ paths escaping the repo",
               {**CHART, "apps/argo/web.yaml": argo.format(path="charts/web", values="../../../outside/values.yaml")},
               ("apps/argo/web.yaml", escapes))
    yield Case("dotdot/argo-path", "../ paths escaping the repo",
               {"apps/argo/web.yaml": argo.format(path="../outside", values="values.yaml")}, ("apps/argo/web.yaml", escapes), exit_code=PARTIAL)
    flux = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: apps, namespace: flux-system}\n"
            "spec:\n  path: ./../outside\n  sourceRef: {kind: GitRepository, name: flux-system}\n  targetNamespace: shop\n")
    yield Case("dotdot/flux-path", "../ paths escaping the repo", {"clusters/prod/apps.yaml": flux}, ("clusters/prod/apps.yaml", escapes))


# ---- objects ----------------------------------------------------------------------------------------

BAD_CPU = ["-100m", "NaN", ".nan", "nan", "1e30", "1e400", "100x", "''", "'∞'", "0x10", "1.5.5", "'1 000m'", "true", "[1]",
           "{a: 1}", "'9 * 3'", "'12 m'", "'+-1'", "1e-30m", "'99999999999999999999999999'"]
BAD_MEMORY = ["-1Gi", "1Zi", "1e308", ".", "Mi", "NaN", "'-0.5Mi'", "12QB", "[]", "1.0.0Gi", "9e99Ei", "false"]


def object_cases() -> Iterator[Case]:
    for value in BAD_CPU:
        yield Case(f"quantity/cpu/{value}", "invalid quantities", {}, ("shop/Deployment/odd", "app", "cpu_request: invalid quantity"),
                   odd=odd_containers(cpu=value))
    for value in BAD_MEMORY:
        yield Case(f"quantity/memory/{value}", "invalid quantities", {}, ("shop/Deployment/odd", "app", "memory_request: invalid quantity"),
                   odd=odd_containers(memory=value))
    nameless = "has no name; left out"
    container_blocks = {
        "missing-name": "        - image: nginx\n          resources: {requests: {cpu: 100m}}",
        "null-name": "        - name: null\n          image: nginx",
        "empty-name": "        - name: ''\n          image: nginx",
        "numeric-name": "        - name: 123\n          image: nginx",
        "list-name": "        - name: [a]\n          image: nginx",
    }
    for name, block in container_blocks.items():
        yield Case(f"container/{name}", "containers without names", {}, ("shop/Deployment/odd", "containers[1]", nameless),
                   odd=odd_containers() + "\n" + block)
    yield Case("container/duplicate-name", "containers without names", {}, ("shop/Deployment/odd", "duplicate container name 'app'"),
               odd=odd_containers() + "\n" + odd_containers(cpu="300m"))
    yield Case("container/containers-is-a-mapping", "containers without names", {}, ("shop/Deployment/odd", "containers is not a list"),
               odd="          app: {image: nginx}")
    yield Case("container/container-is-a-string", "containers without names", {}, ("shop/Deployment/odd", "containers[1] is not a container"),
               odd=odd_containers() + "\n        - nginx")
    yield Case("container/resources-is-a-list", "containers without names", {}, ("shop/Deployment/odd", "resources is not a mapping"),
               odd="        - name: app\n          image: nginx\n          resources: [cpu]")
    yield Case("container/requests-is-a-string", "containers without names", {}, ("shop/Deployment/odd", "resources.requests is not a mapping"),
               odd="        - name: app\n          image: nginx\n          resources:\n            requests: lots")
    dup = "is defined by 2 targets"
    yield Case("duplicate-object/same-file", "duplicate objects", {"apps/bad/twice.yaml": GOOD.replace("good", "twin") + "---\n" +
                                                                   GOOD.replace("good", "twin")},
               ("shop/Deployment/twin", "defined by 2 objects (apps/bad/twice.yaml), a duplicate object"))
    yield Case("duplicate-object/two-files", "duplicate objects",
               {"apps/bad/one.yaml": GOOD.replace("good", "twin"), "apps/bad/two.yaml": GOOD.replace("good", "twin")},
               ("shop/Deployment/twin", dup))
    yield Case("duplicate-object/plain-and-kustomize", "duplicate objects",
               {**KUSTOMIZE, "apps/bad/api.yaml": LEAK.replace("leak", "api")}, ("shop/Deployment/api", dup))
    kinds = {
        "unknown-kind": "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: shop}\nspec:\n  template:\n"
                        "    spec:\n      containers: [{name: x, image: y}]\n",
        "crd-definition": "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\n"
                          "spec:\n  group: example.com\n  names: {kind: Widget, plural: widgets}\n  scope: Namespaced\n"
                          "  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n",
        "missing-kind": "apiVersion: apps/v1\nmetadata: {name: nokind, namespace: shop}\nspec: {}\n",
        "missing-apiversion": "kind: Deployment\nmetadata: {name: noapi, namespace: shop}\nspec:\n  template:\n    spec:\n"
                              "      containers: [{name: x, image: y}]\n",
        "missing-metadata": "apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers: [{name: x, image: y}]\n",
        "missing-name": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {namespace: shop}\nspec:\n  template:\n    spec:\n"
                        "      containers: [{name: x, image: y}]\n",
        "kind-is-a-number": "apiVersion: v1\nkind: 12\nmetadata: {name: n}\n",
        "kind-is-a-list": "apiVersion: v1\nkind: [Deployment]\nmetadata: {name: n}\n",
        "document-is-a-scalar": "just some text\n",
        "document-is-a-list": "- a\n- b\n",
        "metadata-is-a-string": "apiVersion: apps/v1\nkind: Deployment\nmetadata: web\nspec: {}\n",
        "spec-is-a-list": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: listspec, namespace: shop}\nspec: [1, 2]\n",
        "template-is-a-string": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tstr, namespace: shop}\nspec: {template: x}\n",
        "list-kind-with-bad-items": "apiVersion: v1\nkind: List\nitems: [1, {kind: Deployment}]\n",
        "operator-resources": "apiVersion: monitoring.coreos.com/v1\nkind: Prometheus\nmetadata: {name: main, namespace: monitoring}\n"
                              "spec:\n  replicas: 2\n  resources:\n    requests: {memory: 400Mi}\n",
        "generate-name-deployment": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {generateName: web-, namespace: shop}\nspec:\n"
                                    "  template:\n    spec:\n      containers: [{name: x, image: y}]\n",
    }
    expected = {
        "unknown-kind": ("apps/bad/object.yaml", "Widget w", "pod template", "not sized"),
        "crd-definition": (),  # not a workload, and nothing wrong with it: no line at all
        "missing-kind": ("apps/bad/object.yaml", "no kind"),
        "missing-apiversion": ("apps/bad/object.yaml", "Deployment without apiVersion"),
        "missing-metadata": ("apps/bad/object.yaml", "Deployment without metadata.name"),
        "missing-name": ("apps/bad/object.yaml", "Deployment without metadata.name"),
        "kind-is-a-number": ("apps/bad/object.yaml", "kind is a number"),
        "kind-is-a-list": ("apps/bad/object.yaml", "kind is a list"),
        "document-is-a-scalar": ("apps/bad/object.yaml", "no Kubernetes objects"),
        "document-is-a-list": ("apps/bad/object.yaml", "no Kubernetes objects"),
        "metadata-is-a-string": ("apps/bad/object.yaml", "metadata is a string, not a mapping"),
        "spec-is-a-list": ("apps/bad/object.yaml", "spec is a list, not a mapping"),
        "template-is-a-string": ("shop/Deployment/tstr", "no pod template"),
        "list-kind-with-bad-items": ("apps/bad/object.yaml", "items[0]", "not a Kubernetes object"),
        "operator-resources": ("apps/bad/object.yaml", "Prometheus monitoring/main", "custom resource with spec.resources", "not sized"),
        "generate-name-deployment": ("apps/bad/object.yaml", "Deployment without metadata.name", "generateName 'web-'", "Jobs only"),
    }
    for name, text in kinds.items():
        yield Case(f"object/{name}", "unknown kinds and CRDs", {"apps/bad/object.yaml": text}, expected[name])


# ---- configuration and catalogs ---------------------------------------------------------------------

BAD_CONFIGS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "not-a-mapping": ("- a\n- b\n", ("config .gitbot.yaml", "mapping")),
    "unknown-top-key": ("enviroments: []\n", ("config .gitbot.yaml", "enviroments", "unknown key")),
    "environments-not-list": ("environments: production\n", ("environments", "list")),
    "environment-bad-tier": ("environments:\n  - name: p\n    tier: prod\n", ("environments[0].tier",)),
    "environment-missing-name": ("environments:\n  - tier: production\n", ("environments[0].name",)),
    "environment-paths-number": ("environments:\n  - name: p\n    paths: 5\n", ("environments[0].paths",)),
    "default-environment-list": ("default_environment: [a]\n", ("default_environment", "expected a non-empty string")),
    "history-bad": ("history: fortnight\n", ("history",)),
    "history-negative": ("history: -3d\n", ("history",)),
    "step-zero": ("step: 0m\n", ("step",)),
    "placement-bad": ("placement: sometimes\n", ("placement",)),
    "exclude-not-list": ("exclude: 7\n", ("exclude",)),
    "exemption-no-reason": ("exemptions:\n  - workload: '*'\n", ("exemptions[0].reason",)),
    "settings-percentile-high": ("settings:\n  cpu_request_percentile: 150\n", ("settings.cpu_request_percentile",)),
    "settings-unknown": ("settings:\n  cpu_percentile: 95\n", ("settings.cpu_percentile",)),
    "helm-release-no-chart": ("helm:\n  releases:\n    - name: web\n", ("helm.releases[0].chart",)),
    "pull-requests-scope": ("pull_requests:\n  scope: galaxy\n", ("pull_requests.scope",)),
    "pull-requests-threshold": ("pull_requests:\n  reopen_threshold_pct: many\n", ("pull_requests.reopen_threshold_pct",)),
    "limits-cap-bad": ("limits:\n  max_file_size: huge\n", ("limits.max_file_size",)),
    "malformed-yaml": ("environments: [\n", ("config .gitbot.yaml", "invalid YAML")),
    "duplicate-key": ("history: 7d\nhistory: 14d\n", ("config .gitbot.yaml", "duplicate key")),
    "binary": (b"\x00\x01\x02history: 7d\n", ("config .gitbot.yaml", "binary")),
    "not-utf8": ("history: 7d # caf\xe9\n".encode("latin-1"), ("config .gitbot.yaml", "not UTF-8")),
    "alias-bomb": (_billion_laughs(9, 9).split("data:\n", 1)[1].replace("  a", "a"), ("config .gitbot.yaml",)),
}

CATALOG_HEADER = "instance_type,vcpu,memory_gib,price_ondemand_usd_hour,price_spot_usd_hour\n"
BAD_CATALOGS: dict[str, tuple[str | bytes, tuple[str, ...]]] = {
    "missing-column": ("instance_type,vcpu,memory_gib\nm6i.large,2,8\n", ("catalog.csv", "missing column", "price_ondemand_usd_hour")),
    "price-not-number": (CATALOG_HEADER + "m6i.large,2,8,cheap,\n", ("catalog.csv", "row 2", "price_ondemand_usd_hour")),
    "price-negative": (CATALOG_HEADER + "m6i.large,2,8,-0.1,\n", ("catalog.csv", "row 2", "negative")),
    "price-nan": (CATALOG_HEADER + "m6i.large,2,8,NaN,\n", ("catalog.csv", "row 2", "price_ondemand_usd_hour")),
    "price-infinite": (CATALOG_HEADER + "m6i.large,2,8,inf,\n", ("catalog.csv", "row 2", "price_ondemand_usd_hour")),
    "vcpu-fraction": (CATALOG_HEADER + "m6i.large,2.5,8,0.1,\n", ("catalog.csv", "row 2", "vcpu")),
    "vcpu-zero": (CATALOG_HEADER + "m6i.large,0,8,0.1,\n", ("catalog.csv", "row 2", "vcpu")),
    "memory-missing": (CATALOG_HEADER + "m6i.large,2,,0.1,\n", ("catalog.csv", "row 2", "memory_gib")),
    "name-missing": (CATALOG_HEADER + ",2,8,0.1,\n", ("catalog.csv", "row 2", "instance_type")),
    "duplicate-type": (CATALOG_HEADER + "m6i.large,2,8,0.1,\nm6i.large,2,8,0.2,\n", ("catalog.csv", "m6i.large")),
    "short-row": (CATALOG_HEADER + "m6i.large,2\n", ("catalog.csv", "row 2")),
    "empty": ("", ("catalog.csv", "missing column")),
    "header-only": (CATALOG_HEADER, ("catalog.csv", "no instance types")),
    "binary": (b"\x00\x01\x02\x03", ("catalog.csv",)),
    "not-utf8": ((CATALOG_HEADER + "caf\xe9,2,8,0.1,\n").encode("latin-1"), ("catalog.csv", "not UTF-8")),
}


def config_cases() -> Iterator[Case]:
    for name, (text, expect) in BAD_CONFIGS.items():
        yield Case(f"config/{name}", "bad .gitbot.yaml", {}, expect, exit_code=2, config=text, good_edited=False)
    for name, (text, expect) in BAD_CATALOGS.items():
        yield Case(f"catalog/{name}", "bad catalog rows", {}, expect, exit_code=2, catalog=text, good_edited=False)


def all_cases() -> list[Case]:
    cases = [*yaml_cases(), *real_yaml_cases(), *encoding_cases(), *bom_case(), *size_cases(), *helm_cases(), *kustomize_cases(), *escape_cases(),
             *object_cases(), *config_cases()]
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return cases


CASES = all_cases()
