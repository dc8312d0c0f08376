"""HEIC for the benchmark's own Pillow calls (baselines, floors, references)."""

from __future__ import annotations

from functools import cache


@cache
def register() -> None:
    """Let `Image.open` read HEIC through pi-heif, configured as the engine configures it (one
    decoding thread). The engine itself never goes through `Image.open` for HEIC."""
    from pi_heif import options, register_heif_opener

    register_heif_opener()
    options.DECODE_THREADS = 1
