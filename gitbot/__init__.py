"""gitbot: right-size Kubernetes requests and limits in GitOps repositories."""

__version__ = "0.1.0"
