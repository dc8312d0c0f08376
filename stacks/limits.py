"""Limits fixed by design, not settings: several constructs depend on them (a timeout sets the
queue's visibility and the alarms' thresholds), so they live here, where each can see them."""

from __future__ import annotations

from aws_cdk import Duration

API_TIMEOUT = Duration.seconds(20)  # well under API Gateway's 29 s integration limit

WORKER_TIMEOUT = Duration.seconds(60)
# Measured (docs/SCALING.md): the worst input (a 50 MP WebP with alpha, padded to the 50 MB a
# direct upload allows) peaks near 920 MB with the imports; past 1,769 MB (one vCPU) a
# single-threaded render gains no CPU, so more memory would only bill the S3 waits at a
# higher rate.
WORKER_MEMORY_MB = 1536
# Lambda's guidance: a visibility timeout of at least six times the function's timeout, so a
# batch still being retried by the event source is never handed to a second worker.
VISIBILITY_TIMEOUT = Duration.seconds(WORKER_TIMEOUT.to_seconds() * 6)
MAX_RECEIVE_COUNT = 5
BATCH_SIZE = 5
