"""What a plan asks of a metric source, and the metric names it reads.

The names and labels are the ones cAdvisor (via the kubelet) and kube-state-metrics export; see
``docs/metrics.md`` for what each is used for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from gitbot.metrics.usage import UsageData

# cAdvisor
CPU_USAGE = "container_cpu_usage_seconds_total"
MEMORY_WORKING_SET = "container_memory_working_set_bytes"
CFS_THROTTLED = "container_cpu_cfs_throttled_periods_total"
CFS_PERIODS = "container_cpu_cfs_periods_total"
# kube-state-metrics
POD_OWNER = "kube_pod_owner"
REPLICASET_OWNER = "kube_replicaset_owner"
JOB_OWNER = "kube_job_owner"
POD_INFO = "kube_pod_info"
NODE_LABELS = "kube_node_labels"
RESTARTS = "kube_pod_container_status_restarts_total"
LAST_TERMINATED = "kube_pod_container_status_last_terminated_reason"
REQUESTS = "kube_pod_container_resource_requests"
LIMITS = "kube_pod_container_resource_limits"
# Istio standard metrics (optional: present only in a mesh); the bytes are histograms' _sum series
MESH_REQUESTS = "istio_requests_total"
MESH_REQUEST_BYTES = "istio_request_bytes_sum"
MESH_RESPONSE_BYTES = "istio_response_bytes_sum"

# written by `gitbot snapshot`: value 1 at the end of the recorded window
SNAPSHOT_INFO = "gitbot_snapshot_info"
LOOKBACK_SECONDS = 300  # Prometheus' default --query.lookback-delta, for instant values on the grid

CADVISOR_METRICS = (CPU_USAGE, MEMORY_WORKING_SET, CFS_THROTTLED, CFS_PERIODS)
KSM_METRICS = (POD_OWNER, REPLICASET_OWNER, JOB_OWNER, POD_INFO, NODE_LABELS, RESTARTS, LAST_TERMINATED, REQUESTS, LIMITS)
MESH_METRICS = (MESH_REQUESTS, MESH_REQUEST_BYTES, MESH_RESPONSE_BYTES)
# the owner tables, read for every namespace (unmatched pods), and the label naming each one's object
OWNER_OBJECT_LABELS = {POD_OWNER: "pod", REPLICASET_OWNER: "replicaset", JOB_OWNER: "job_name"}
OWNER_LABELS = ("owner_kind", "owner_name", "owner_is_controller")
ALL_METRICS = CADVISOR_METRICS + KSM_METRICS + MESH_METRICS
# one row per pair of workloads and reporting proxy (each request is reported by both ends)
MESH_LABELS = ("reporter", "source_workload_namespace", "source_workload", "destination_workload_namespace", "destination_workload")

# kube_node_labels label names (kube-state-metrics sanitises node labels and prefixes "label_")
INSTANCE_TYPE_LABELS = ("label_node_kubernetes_io_instance_type", "label_beta_kubernetes_io_instance_type")
REGION_LABELS = ("label_topology_kubernetes_io_region", "label_failure_domain_beta_kubernetes_io_region")
ZONE_LABELS = ("label_topology_kubernetes_io_zone", "label_failure_domain_beta_kubernetes_io_zone")
CAPACITY_TYPE_LABELS = (
    "label_karpenter_sh_capacity_type",
    "label_eks_amazonaws_com_capacity_type",
    "label_cloud_google_com_gke_spot",
    "label_cloud_google_com_gke_preemptible",
    "label_kubernetes_azure_com_scalesetpriority",
)
ARCH_LABELS = ("label_kubernetes_io_arch", "label_beta_kubernetes_io_arch")


@dataclass(frozen=True)
class UsageQuery:
    """The window and resolution a plan needs."""

    history_seconds: int = 14 * 86400
    step_seconds: int = 300
    rate_window_seconds: int = 600  # must hold at least two samples of the CPU counter
    end: float | None = None  # None: the end of the data (snapshot) or now (server, given by the CLI)
    namespaces: frozenset[str] | None = None  # only these namespaces; None = all


class MetricSource(Protocol):
    def describe(self) -> str:
        """One line for the plan output: what the usage came from."""
        ...

    def fetch(self, query: UsageQuery) -> UsageData: ...
