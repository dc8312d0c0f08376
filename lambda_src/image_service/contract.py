"""Facts the infrastructure and the functions must agree on, written once.

`stacks/` imports this module to build the template, and the functions import it to read
what the template gave them, so the two sides cannot drift apart. It imports nothing but the
standard library: no boto3, no Powertools, no Pillow, no `aws_cdk`.
"""

from __future__ import annotations

from typing import Final

# --- the worker's metrics (CloudWatch embedded metric format) ------------------------------
# The worker prints them into its log stream with Powertools `Metrics` (no API call);
# CloudWatch turns them into metrics, which the stack's alarm and dashboard read.

# The stack passes it to the worker as POWERTOOLS_METRICS_NAMESPACE.
METRICS_NAMESPACE: Final = "ImageService"
# POWERTOOLS_SERVICE_NAME of every function: the `service` key of each log line, and a
# dimension Powertools adds to every metric.
SERVICE_NAME: Final = "image-service"


class MetricDimension:
    """The dimensions of every worker metric, all of them: an alarm matches a metric only
    when it names exactly the dimensions the metric was published with."""

    # Added by Powertools, with SERVICE_NAME as its value.
    SERVICE: Final = "service"
    # The worker function's own (generated) name: two stages, or two copies of the stack in
    # one account and region, never add up into one series.
    FUNCTION_NAME: Final = "FunctionName"


class WorkerMetric:
    """Names of the worker's metrics in METRICS_NAMESPACE, one value per job (SQS record)."""

    # Count: jobs whose every rendition was stored.
    RENDERED: Final = "ImagesRendered"
    # Count: jobs that failed this try (retried, or on to the dead-letter queue after the last).
    FAILED: Final = "RendersFailed"
    # Milliseconds per rendered job: read the original, render every rendition, store them.
    RENDER_TIME: Final = "RenderTime"
