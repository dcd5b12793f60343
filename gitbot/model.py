"""The records that flow through gitbot, one direction only.

    RenderedObject (+ ObjectSource) -> Workload / Container -> UsageProfile -> Recommendation
    -> CostDelta -> Edit -> ChangeSet -> Plan

Every record is a frozen dataclass. Quantities are exact integers with their unit in the name
(``cpu_m`` millicores, ``memory_bytes`` bytes); money is ``Decimal``; a value that is not known is
``None`` and the record says why.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Mapping



@dataclass(frozen=True)
class Embedded:
    """A path step into YAML written inside a literal block scalar, such as an inline Kustomize
    patch (``patches[0].patch: |``): document ``doc`` of the scalar's text."""

    doc: int


YamlPath = tuple["str | int | Embedded", ...]

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "ReplicationController", "Pod")
# where each workload kind keeps its pod spec
POD_SPEC_PATH: Mapping[str, YamlPath] = {
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
    "Pod": ("spec",),
}


class Resource(str, enum.Enum):
    CPU = "cpu"
    MEMORY = "memory"


class Bound(str, enum.Enum):
    REQUEST = "requests"
    LIMIT = "limits"


class Field(str, enum.Enum):
    """One of the four container fields gitbot sizes."""

    CPU_REQUEST = "cpu_request"
    CPU_LIMIT = "cpu_limit"
    MEMORY_REQUEST = "memory_request"
    MEMORY_LIMIT = "memory_limit"

    @property
    def resource(self) -> Resource:
        return Resource.CPU if self in (Field.CPU_REQUEST, Field.CPU_LIMIT) else Resource.MEMORY

    @property
    def bound(self) -> Bound:
        return Bound.REQUEST if self in (Field.CPU_REQUEST, Field.MEMORY_REQUEST) else Bound.LIMIT

    @property
    def resources_path(self) -> YamlPath:
        """Path below a container: ``("resources", "requests", "cpu")``."""
        return ("resources", self.bound.value, self.resource.value)

    @property
    def json_key(self) -> str:
        """Key with its unit, as used in the JSON plan: ``cpu_request_m``, ``memory_limit_bytes``."""
        return f"{self.value}_m" if self.resource is Resource.CPU else f"{self.value}_bytes"

    @classmethod
    def of(cls, resource: Resource, bound: Bound) -> Field:
        return cls(f"{resource.value}_{'request' if bound is Bound.REQUEST else 'limit'}")


FIELDS: tuple[Field, ...] = tuple(Field)


class SourceKind(str, enum.Enum):
    """Where the text of a rendered value lives."""

    PLAIN = "plain"  # a plain manifest file
    BASE = "base"  # a Kustomize resource file, value not changed by the overlay chain
    PATCH = "patch"  # a Kustomize strategic-merge patch
    JSON6902 = "json6902"  # a Kustomize JSON 6902 patch
    HELM_VALUES = "helm-values"
    HELM_TEMPLATE = "helm-template"
    HELMRELEASE_VALUES = "helmrelease-values"
    ARGOCD_VALUES = "argocd-values"
    PRESET = "preset"
    UNKNOWN = "unknown"


class TargetKind(str, enum.Enum):
    PLAIN = "plain"
    KUSTOMIZE = "kustomize"
    HELM = "helm"


@dataclass(frozen=True)
class Target:
    """A unit that renders to Kubernetes objects: a plain file, a Kustomize root or a Helm release."""

    kind: TargetKind
    path: str  # repo-relative posix path of the file / kustomization dir / chart dir; for a pulled chart, its reference
    name: str  # display name; for Helm "chart-dir@release"
    release: str | None = None  # Helm release name
    namespace: str | None = None  # Helm release namespace
    values_files: tuple[str, ...] = ()  # Helm values files, repo-relative
    inline_values: str = ""  # JSON of values set outside files (an Argo CD Application's helm.values), applied last
    origin: str | None = None  # what declared this release, e.g. "apps/web.yaml: web-prod" (Argo CD)
    declared_by: Target | None = None  # the target that renders the object declaring this one (a HelmRelease, an Application ...)
    declared_as: str | None = None  # and that object there, "namespace/name"
    declared_kind: str | None = None  # its kind: HelmRelease, Kustomization (Flux) or Application (Argo CD)
    chart: str | None = None  # Helm: the chart archive or directory rendered when it is not ``path`` in the repository (pulled, absolute)
    chart_deps: tuple[str, ...] = ()  # Helm: dependency archives gitbot pulled for the chart (absolute), added under charts/


class Coverage(str, enum.Enum):
    """What became of one render target."""

    RENDERED = "rendered"
    CACHED = "cached"  # read from the render cache (nothing it reads changed)
    PULLED = "pulled"  # its chart, or a dependency, was downloaded in this run, then rendered
    FAILED = "failed"  # could not be rendered: its workloads are not sized
    SKIPPED = "skipped"  # deliberately not rendered (another repository's path, a library chart ...)


@dataclass(frozen=True)
class TargetReport:
    """One render target and its outcome, for the coverage list every output ends with."""

    name: str
    kind: str  # plain | kustomize | helm
    status: Coverage
    detail: str | None = None  # why it failed or was skipped; for a pulled chart, what was pulled
    declared_kind: str | None = None  # HelmRelease | Application | Kustomization, when one declared it
    declared_by: str | None = None  # "file: HelmRelease namespace/name"


@dataclass(frozen=True)
class ObjectSource:
    """The file that defines a rendered object (for Kustomize: the origin annotation's file)."""

    file: str  # repo-relative posix path
    doc_index: int | None  # document number inside the file, when known
    line: int | None  # 1-based line where the object starts, when known
    kind: SourceKind
    yaml_path: YamlPath = ()  # path of the object inside its document: () or ("items", i) in a List


@dataclass(frozen=True, eq=False)
class RenderedObject:
    """One Kubernetes object as the cluster would receive it, and where it came from."""

    target: Target
    data: Mapping[str, Any]
    source: ObjectSource
    patched_by: tuple[str, ...] = ()
    """Kustomization files whose patches or replacements changed this object after it was read."""

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def name(self) -> str:
        meta = self.data.get("metadata")
        return str(meta.get("name", "")) if isinstance(meta, dict) else ""

    @property
    def namespace(self) -> str | None:
        meta = self.data.get("metadata")
        ns = meta.get("namespace") if isinstance(meta, dict) else None
        return str(ns) if ns else None


@dataclass(frozen=True)
class Skipped:
    """Something the run looked at and left out, with the reason (shown with -v and in JSON)."""

    path: str
    reason: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class WorkloadId:
    namespace: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class FieldSource:
    """Where one container field's value is written, and whether gitbot may edit it there."""

    kind: SourceKind
    file: str | None
    doc_index: int | None
    yaml_path: YamlPath | None  # path inside that document; for absent fields, where it would go
    line: int | None  # line of the value, or of the nearest existing parent when absent
    present: bool  # the field exists in the source text
    not_editable: str | None = None  # why gitbot will not edit it here (None: editable)
    companions: tuple[tuple[YamlPath, str], ...] = ()
    """Values an edit here must write along with the field, as (path, text): a chart preset's whole
    rendered block (``ephemeral-storage`` included), which an explicit ``resources`` block replaces."""
    note: str | None = None  # what an edit here does beyond the value, for the reader

    @property
    def editable(self) -> bool:
        return self.not_editable is None

    @property
    def location(self) -> str | None:
        if self.file is None:
            return None
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class CurrentValue:
    """A field as the manifest has it: exact value and the text it was written as."""

    value: int | None  # millicores or bytes; None when unset
    text: str | None  # the source text, e.g. "250m"; used to keep the file's idiom
    source: FieldSource


@dataclass(frozen=True)
class HpaInfo:
    name: str
    min_replicas: int | None
    max_replicas: int | None
    cpu_utilization_pct: int | None  # averageUtilization of a cpu Resource metric
    memory_utilization_pct: int | None


class ContainerType(str, enum.Enum):
    APP = "app"
    INIT = "init"
    SIDECAR = "sidecar"  # an initContainer with restartPolicy: Always


@dataclass(frozen=True)
class Container:
    name: str
    type: ContainerType
    index: int  # position in containers / initContainers
    fields: Mapping[Field, CurrentValue]

    def current(self, f: Field) -> int | None:
        return self.fields[f].value


@dataclass(frozen=True)
class Workload:
    id: WorkloadId
    target: Target
    source: ObjectSource
    environment: str
    tier: str  # "production" or "non-production"
    replicas: int | None  # spec.replicas (Deployment/StatefulSet/ReplicaSet), 1 for Pod, None otherwise
    containers: tuple[Container, ...]
    hpa: HpaInfo | None = None
    namespace_explicit: bool = True  # False when the namespace was defaulted
    pod_labels: tuple[tuple[str, str], ...] = ()  # labels that select its pods (selector.matchLabels, else the template's)
    generate_name: bool = False  # id.name is a metadata.generateName prefix (a Job created, not applied): its Jobs are <prefix><5 chars>

    def container(self, name: str) -> Container | None:
        return next((c for c in self.containers if c.name == name), None)


class Status(str, enum.Enum):
    CHANGE = "change"
    UNCHANGED = "unchanged"
    COMMENT_ONLY = "comment-only"
    SKIPPED = "skipped"
