"""gputop: a terminal dashboard for live GPU and inference-job observation."""

__version__ = "0.1.0"
__all__ = ["__version__"]
