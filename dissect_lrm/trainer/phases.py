"""Machine-readable phase lines, so a stalled or failed run says which phase it reached."""

from __future__ import annotations

PHASE_PREFIX = "[dissect-lrm] phase:"


def announce_phase(phase: str) -> None:
    print(f"{PHASE_PREFIX} {phase}", flush=True)
