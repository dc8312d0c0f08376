"""`make load`: the bounded load test through the local runner (see docs/RELIABILITY.md)."""
