"""Real-world YAML (issue #16, point 7): every tag kubectl accepts loads to the value kubectl sees;
parser warnings become skipped-input notes naming the file and line, never text on stderr; custom
resources sized by their operator (``spec.resources``) are listed as not sized; Jobs with only a
``generateName`` are planned and sized from the Jobs the cluster created; a metrics file that is
something else (a saved Prometheus API answer, a ``.gz`` that is not gzip) says what it is."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from gitbot.cli import main
from gitbot.config import Config
from gitbot.errors import SourceError
from gitbot.load import load_repo
from gitbot.metrics.usage import PodContainerUsage, UsageData, build_profiles
from gitbot.model import ObjectSource, Skipped, SourceKind, Target, TargetKind, Workload, WorkloadId
from gitbot.workloads import build_workloads
from gitbot.yamldoc import load_all, load_yaml_file, parse_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
from synth import MI, SimpleContainer, SimpleWorkload, scenario_for, write_snapshot  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
END = 1794787200.0

# ---- tags ------------------------------------------------------------------------------------------

# (YAML of the value of key ``v``, what kubectl reads: sigs.k8s.io/yaml decodes with go-yaml into JSON data)
TAGS: dict[str, tuple[str, Any]] = {
    "str": ("!!str 123", "123"),
    "str-on-bool": ("!!str true", "true"),
    "int": ("!!int '42'", 42),
    "float": ("!!float '1.5'", 1.5),
    "bool": ("!!bool 'true'", True),
    "null": ("!!null ''", None),
    "binary": ("!!binary aGVsbG8=", "hello"),
    "binary-block": ("!!binary |\n  aGVs\n  bG8=", "hello"),
    "timestamp": ("!!timestamp 2024-01-02T03:04:05Z", "2024-01-02T03:04:05Z"),
    "plain-date": ("2024-01-02", "2024-01-02"),
    "plain-datetime": ("2024-01-02 03:04:05", "2024-01-02 03:04:05"),
    "map": ("!!map {b: 1}", {"b": 1}),
    "seq": ("!!seq [1, 2]", [1, 2]),
    "set": ("!!set {x, y}", {"x": None, "y": None}),
    "set-block": ("!!set\n  ? x\n  ? y", {"x": None, "y": None}),
    "omap": ("!!omap [x: 1, y: 2]", [{"x": 1}, {"y": 2}]),
    "pairs": ("!!pairs [x: 1, x: 2]", [{"x": 1}, {"x": 2}]),
    "value-key": ("{=: 5}", {"=": 5}),
    "value-key-block": ("\n  =: 5\n  other: 6", {"=": 5, "other": 6}),
    "value-tag": ("{!!value =: 5}", {"=": 5}),
    "verbatim": ("!<tag:yaml.org,2002:str> 5", "5"),
    "local-scalar": ("!Ref build-id", "build-id"),
    "local-number": ("!Ref 5", "5"),
    "local-sequence": ("!reference [.defaults, script]", [".defaults", "script"]),
    "local-mapping": ("!Sub {a: 1}", {"a": 1}),
    "local-block-mapping": ("!Thing\n  a: 1\n  b: [x]", {"a": 1, "b": ["x"]}),
    "global-unknown": ("!<tag:example.com,2024:thing> x", "x"),
    "tag-directive": (None, "x"),  # written below with a %TAG directive
}


def _doc(case: str) -> str:
    if case == "tag-directive":
        return "%TAG !e! tag:example.com,2024:\n---\nv: !e!thing x\n"
    return f"v: {TAGS[case][0]}\n"


@pytest.mark.parametrize("case", TAGS, ids=list(TAGS))
@pytest.mark.parametrize("path", ["libyaml", "python"])
def test_every_tag_kubectl_accepts_loads_to_the_value_kubectl_reads(case: str, path: str) -> None:
    text = _doc(case)
    if path == "python":
        text = "\ufeff" + text  # a byte-order mark takes the pure-Python parser
    (doc,) = parse_yaml(text, "t.yaml")
    assert doc.data == {"v": TAGS[case][1]}
    assert load_all(text.lstrip("\ufeff"), "t.yaml") == [{"v": TAGS[case][1]}]
    json.dumps(doc.data)  # JSON data, as kubectl's: no bytes, dates or sets


def test_tags_in_a_manifest_keep_positions_and_scalar_text() -> None:
    text = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    built: !!timestamp 2024-01-02\n"
        "    ref: !Ref build-id\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n"
        "          resources:\n            requests:\n              cpu: !!str 250m\n              memory: !Mem 64Mi\n"
        "            limits: !Limits {memory: 128Mi}\n"
    )
    for variant in (text, "\ufeff" + text):
        offset = len(variant) - len(text)
        (doc,) = parse_yaml(variant, "t.yaml")
        resources = ("spec", "template", "spec", "containers", 0, "resources")
        assert doc.data["metadata"]["annotations"] == {"built": "2024-01-02", "ref": "build-id"}
        assert doc.data["spec"]["template"]["spec"]["containers"][0]["resources"] == {
            "requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}
        cpu = doc.span(resources + ("requests", "cpu"))
        assert cpu is not None and (cpu.line, cpu.column, cpu.shared) == (15, 20, False)
        assert variant[cpu.start:cpu.end] == "!!str 250m" and cpu.start == text.index("!!str 250m") + offset
        assert doc.scalar_text(resources + ("requests", "cpu")) == "250m"
        assert doc.scalar_text(resources + ("requests", "memory")) == "64Mi"
        limit = doc.span(resources + ("limits", "memory"))
        assert limit is not None and limit.line == 17 and variant[limit.start:limit.end] == "128Mi"


def test_invalid_binary_is_still_refused_as_kubectl_refuses_it() -> None:
    with pytest.raises(SourceError, match=r"t.yaml:1: invalid YAML"):
        parse_yaml("v: !!binary 12%%\n", "t.yaml")


# ---- parser warnings -------------------------------------------------------------------------------

REUSED = "a: &x 1\nb: &x 2\nc: *x\nd:\n  e: &x 3\n---\nf: &x 4\n"


def test_a_reused_anchor_loads_as_go_yaml_reads_it_and_becomes_a_note() -> None:
    notes: list[Skipped] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any Python warning fails the test
        docs = parse_yaml(REUSED, "apps/x.yaml", notes)
        rendered: list[Skipped] = []
        assert load_all(REUSED, "out", rendered) == [{"a": 1, "b": 2, "c": 2, "d": {"e": 3}}, {"f": 4}]
        assert load_all(REUSED, "out") == [{"a": 1, "b": 2, "c": 2, "d": {"e": 3}}, {"f": 4}]  # no list: no notes, no warning
    assert [d.data for d in docs] == [{"a": 1, "b": 2, "c": 2, "d": {"e": 3}}, {"f": 4}]
    reason = "anchor &x is defined again (first at line 1); the later definition wins"
    assert notes == [Skipped("apps/x.yaml", reason, 2), Skipped("apps/x.yaml", reason, 5)]  # anchors are per document
    assert [(n.line, n.reason) for n in rendered] == [(2, reason), (5, reason)]
    b = docs[0].span(("b",))
    assert b is not None and b.shared and b.line == 2  # anchored: never spliced in place


def test_a_yaml_1_1_float_without_a_dot_prints_no_warning() -> None:
    """ruamel's Python path warns about ``1e5`` in a ``%YAML 1.1`` document; go-yaml reads the float."""
    text = "%YAML 1.1\n---\na: &x 1e5\nb: &x -2E+3\nc: 1.5\n"  # the reused anchor takes the Python path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_all(text, "out") == [{"a": 100000.0, "b": -2000.0, "c": 1.5}]
        assert parse_yaml(text, "t.yaml")[0].data == {"a": 100000.0, "b": -2000.0, "c": 1.5}


def test_yaml_file_carries_its_notes(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(REUSED)
    yfile = load_yaml_file(tmp_path / "x.yaml", "x.yaml")
    assert [(n.path, n.line) for n in yfile.notes] == [("x.yaml", 2), ("x.yaml", 5)]
    (tmp_path / "clean.yaml").write_text("a: &x 1\nb: *x\n")
    assert load_yaml_file(tmp_path / "clean.yaml", "clean.yaml").notes == ()


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: shop
  labels: &labels
    app: {name}
spec:
  selector:
    matchLabels: &labels
      app: {name}
  template:
    metadata:
      labels: *labels
    spec:
      containers:
        - name: app
          image: nginx
          resources:
            requests: {{cpu: 100m, memory: 64Mi}}
"""


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_loader_lists_each_files_notes_once(tmp_path: Path) -> None:
    repo = _write(tmp_path, {
        "apps/web.yaml": DEPLOYMENT.format(name="web"),
        "deploy/base/kustomization.yaml": "resources: &r\n  - api.yaml\ncommonAnnotations: &r {team: a}\n",
        "deploy/base/api.yaml": DEPLOYMENT.format(name="api"),
        "deploy/prod/kustomization.yaml": "resources:\n  - ../base\n",
    })
    result = load_repo(repo, Config())
    assert sorted(o.name for o in result.objects) == ["api", "web"]
    notes = [(s.path, s.line, s.reason) for s in result.skipped]
    reason = "anchor &{} is defined again (first at line {}); the later definition wins"
    assert sorted(notes) == [
        ("apps/web.yaml", 10, reason.format("labels", 6)),
        ("deploy/base/api.yaml", 10, reason.format("labels", 6)),
        ("deploy/base/kustomization.yaml", 3, reason.format("r", 1)),
    ]


def test_no_raw_warning_reaches_stderr(tmp_path: Path) -> None:
    """A subprocess: Python shows a warning once per process, so an in-process run could pass by luck."""
    repo = _write(tmp_path / "repo", {"apps/web.yaml": DEPLOYMENT.format(name="web") + "---\n" + REUSED.split("---")[0]})
    env = {**os.environ, "PYTHONWARNINGS": "always"}
    env.pop("GITBOT_CONFIG", None)
    gitbot = Path(sys.executable).parent / "gitbot"
    proc = subprocess.run([str(gitbot), "inventory", str(repo), "-v", "-q", "--render-cache", "off"], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr and "ruamel" not in proc.stderr and "occurrence" not in proc.stderr, proc.stderr
    assert "apps/web.yaml:10: anchor &labels is defined again (first at line 6); the later definition wins" in proc.stderr
    assert "apps/web.yaml:23: anchor &x is defined again (first at line 22)" in proc.stderr


# ---- custom resources sized by their operator ------------------------------------------------------

OPERATED = """\
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: main, namespace: monitoring}
spec:
  replicas: 2
  resources:
    requests: {memory: 400Mi}
---
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata: {name: main, namespace: monitoring}
spec:
  resources: {requests: {cpu: 10m}, limits: {memory: 100Mi}}
---
apiVersion: monitoring.coreos.com/v1
kind: ThanosRuler
metadata: {name: rules}
spec:
  resources: {}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: monitoring}
spec:
  resources: {requests: {storage: 1Gi}}
---
apiVersion: example.com/v1
kind: Quota
metadata: {name: q, namespace: monitoring}
spec:
  resources: {pods: 10}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: web, namespace: monitoring}
spec:
  endpoints: [{port: http}]
"""


def test_custom_resources_with_spec_resources_are_listed_as_not_sized(tmp_path: Path) -> None:
    repo = _write(tmp_path, {"monitoring/stack.yaml": OPERATED})
    config = Config()
    built = build_workloads(load_repo(repo, config), config)
    assert built.workloads == ()
    tail = "a custom resource with spec.resources (its operator creates the pods); not sized"
    assert [(s.path, s.line, s.reason) for s in built.skipped] == [
        ("monitoring/stack.yaml", 1, f"Prometheus monitoring/main: {tail}"),
        ("monitoring/stack.yaml", 9, f"Alertmanager monitoring/main: {tail}"),
        ("monitoring/stack.yaml", 15, f"ThanosRuler default/rules: {tail}"),
    ]


def test_custom_resources_show_in_the_plan_json_and_with_v(tmp_path: Path) -> None:
    repo = _write(tmp_path / "repo", {"monitoring/stack.yaml": OPERATED, "apps/web.yaml": DEPLOYMENT.format(name="web")})
    result = CliRunner().invoke(main, ["inventory", str(repo), "-v", "--format", "json"], env={"GITBOT_CONFIG": None})
    assert result.exit_code == 0, result.stderr
    assert "gitbot: skipped monitoring/stack.yaml:1: Prometheus monitoring/main: a custom resource with spec.resources" in result.stderr


# ---- Jobs with generateName ------------------------------------------------------------------------

MIGRATE = """\
apiVersion: batch/v1
kind: Job
metadata:
  generateName: db-migrate-
  namespace: shop
  annotations:
    argocd.argoproj.io/hook: PreSync
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: migrate
          resources:
            requests:
              cpu: 2
              memory: 1Gi
"""


def test_a_generate_name_job_is_a_workload_named_by_its_prefix(tmp_path: Path) -> None:
    repo = _write(tmp_path, {
        "apps/migrate.yaml": MIGRATE,
        "apps/web.yaml": DEPLOYMENT.format(name="web").replace("  name: web\n", "  generateName: web-\n", 1),
        "apps/bad.yaml": MIGRATE.replace("db-migrate-", "Bad_Prefix-"),
    })
    config = Config()
    built = build_workloads(load_repo(repo, config), config)
    (job,) = built.workloads
    assert str(job.id) == "shop/Job/db-migrate-" and job.generate_name
    assert [c.name for c in job.containers] == ["migrate"]
    reasons = sorted((s.path, s.reason) for s in built.skipped if "anchor" not in s.reason)
    assert reasons == [
        ("apps/bad.yaml", "Job shop/Bad_Prefix-: not a valid Kubernetes name (a template?)"),
        ("apps/web.yaml", "Deployment without metadata.name (generateName 'web-' is followed for Jobs only)"),
    ]


def _usage(pod: str) -> PodContainerUsage:
    grid = np.arange(300.0, 3300.0, 300.0)
    return PodContainerUsage("shop", pod, "migrate", np.full(grid.size, 100.0), np.full(grid.size, 2.0**20), None, None, 0, (), None)


def _job_workload(name: str, generated: bool) -> Workload:
    target = Target(TargetKind.PLAIN, "x.yaml", "x.yaml")
    source = ObjectSource("x.yaml", 0, 1, SourceKind.PLAIN)
    return Workload(WorkloadId("shop", "Job", name), target, source, "default", "production", None, (), generate_name=generated)


def test_pods_of_generated_jobs_join_their_prefix_by_owner_or_by_name() -> None:
    grid = np.arange(300.0, 3300.0, 300.0)
    pods = ["db-migrate-x7k2p-abcde", "db-migrate-b4n8q-fghij", "db-migrate-zz9xw-klmno", "db-migratex-q2w3e-ab12c", "db-migrate-toolong-ab12c"]
    data = UsageData(
        "test", grid, 300, tuple(_usage(p) for p in pods),
        pod_owners={("shop", "db-migrate-x7k2p-abcde"): ("Job", "db-migrate-x7k2p"),
                    ("shop", "db-migrate-b4n8q-fghij"): ("Job", "db-migrate-b4n8q")},  # the third has no owner row
        replicaset_owners={}, job_owners={}, pod_nodes={}, nodes={},
    )
    workloads = [_job_workload("db-migrate-", True), _job_workload("db-migrate", False)]
    profiles = build_profiles(workloads, data)
    generated = profiles.get(WorkloadId("shop", "Job", "db-migrate-"), "migrate")
    assert generated is not None and generated.pods == 3 and generated.joined_by == "name"  # two by owner, one by name
    assert profiles.get(WorkloadId("shop", "Job", "db-migrate"), "migrate") is None  # a plain name never takes generated Jobs
    assert profiles.unmatched_pods == (("shop", "db-migrate-toolong-ab12c"), ("shop", "db-migratex-q2w3e-ab12c"))
    owner_only = build_profiles(workloads, replace(data, containers=data.containers[:2]))
    assert owner_only.get(WorkloadId("shop", "Job", "db-migrate-"), "migrate").joined_by == "owner"


def test_a_generate_name_job_is_planned_from_a_snapshot(tmp_path: Path) -> None:
    repo = _write(tmp_path / "repo", {"apps/migrate.yaml": MIGRATE})
    runs = [SimpleWorkload("shop", "Job", f"db-migrate-{s}", 1, [SimpleContainer("migrate", 2000, 1024 * MI)]) for s in ("x7k2p", "b4n8q")]
    snapshot = tmp_path / "usage.om"
    write_snapshot(scenario_for(runs, END), snapshot)
    output = tmp_path / "plan.json"
    result = CliRunner().invoke(main, ["plan", str(repo), "--metrics-file", str(snapshot), "--at", str(int(END)), "--format", "json",
                                       "--output", str(output), "-q", "--render-cache", "off"], env={"GITBOT_CONFIG": None})
    assert result.exit_code == 0, result.stderr
    plan = json.loads(output.read_text())
    (container,) = plan["containers"]
    assert (container["workload"], container["container"], container["status"]) == ("shop/Job/db-migrate-", "migrate", "change")
    assert container["usage"]["pods"] == 2 and container["usage"]["joined_by"] == "owner"
    cpu = container["fields"]["cpu_request_m"]
    assert cpu["current"] == 2000 and isinstance(cpu["recommended"], int) and cpu["recommended"] < 2000
    assert cpu["source"]["file"] == "apps/migrate.yaml" and cpu["source"]["line"] == 17 and cpu["source"]["editable"]
    assert plan["usage_source"]["unmatched_pods"] == 0


# ---- metrics files that are something else ---------------------------------------------------------

API_ANSWER = '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"web"},"values":[[1,"2"]]}]}}\n'
HINT = "`gitbot snapshot` records one from Prometheus (or read the server itself with --prometheus-url)"


def _plan_with(tmp_path: Path, name: str, content: bytes) -> tuple[int, str]:
    repo = _write(tmp_path / "repo", {"apps/web.yaml": DEPLOYMENT.format(name="web")})
    metrics = tmp_path / name
    metrics.write_bytes(content)
    result = CliRunner().invoke(main, ["plan", str(repo), "--metrics-file", str(metrics), "--at", str(int(END)), "--format", "json",
                                       "-q", "--render-cache", "off"], env={"GITBOT_CONFIG": None})
    return result.exit_code, result.stderr


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("answer.json", API_ANSWER.encode(),
     "a Prometheus API JSON answer (resultType matrix), not an OpenMetrics snapshot; " + HINT),
    ("answer.json.gz", gzip.compress(API_ANSWER.encode(), mtime=0),
     "a Prometheus API JSON answer (resultType matrix), not an OpenMetrics snapshot; " + HINT),
    ("answer.om.gz", API_ANSWER.encode(),
     "not gzip (it starts like JSON); a Prometheus API JSON answer (resultType matrix), not an OpenMetrics snapshot; " + HINT),
    ("status-only.json", b'{\n  "status": "error",\n  "errorType": "bad_data"\n}\n', "a Prometheus API JSON answer, not an OpenMetrics snapshot; " + HINT),
    ("series.json", b'[{"__name__": "up"}]', "JSON, not an OpenMetrics snapshot (lines of name{labels} value timestamp); " + HINT),
    ("login.om", b"<!DOCTYPE html>\n<html><body>Sign in</body></html>", "an HTML page (a login or error page saved instead?), not an OpenMetrics snapshot"),
    ("usage.om.zst", b"\x28\xb5\x2f\xfd" + bytes(20), "zstd-compressed; a metrics file is OpenMetrics text, plain or gzip"),
    ("usage.om.gz", b"BZh91AY&SY" + bytes(20), "not gzip (it starts like bzip2 data); bzip2-compressed; a metrics file is OpenMetrics text, plain or gzip"),
    ("usage.om", b"\x00\x01\x02binary", "binary data, not OpenMetrics text"),
])
def test_a_metrics_file_that_is_something_else_says_what_it_is(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    code, stderr = _plan_with(tmp_path, name, content)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert lines == [f"gitbot: error: metrics file {tmp_path / name}: {expected}"], stderr


def test_a_gz_file_of_plain_openmetrics_text_is_read_with_a_warning(tmp_path: Path) -> None:
    snapshot = tmp_path / "usage.om"
    write_snapshot(scenario_for([SimpleWorkload("shop", "Deployment", "web", 1, [SimpleContainer("app", 100, 64 * MI)])], END), snapshot)
    misnamed = tmp_path / "usage.om.gz"
    misnamed.write_bytes(snapshot.read_bytes())
    repo = _write(tmp_path / "repo", {"apps/web.yaml": DEPLOYMENT.format(name="web")})
    result = CliRunner().invoke(main, ["plan", str(repo), "--metrics-file", str(misnamed), "--at", str(int(END)), "--format", "json",
                                       "-q", "--render-cache", "off"], env={"GITBOT_CONFIG": None})
    assert result.exit_code == 0, result.stderr
    plan = json.loads(result.stdout)
    assert f"{misnamed} is not gzip (it starts like OpenMetrics text); read as plain OpenMetrics text" in plan["warnings"]
    assert plan["containers"][0]["usage"]["samples"] > 0


def test_a_gz_file_of_other_text_says_it_was_read_as_text(tmp_path: Path) -> None:
    code, stderr = _plan_with(tmp_path, "notes.gz", b"some notes about the cluster\n")
    assert code == 2
    assert stderr.strip().endswith(f"({tmp_path / 'notes.gz'} is not gzip (it starts like plain text); read as plain OpenMetrics text)"), stderr
