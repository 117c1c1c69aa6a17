"""Multi-stage training schedules (Table 2): ``"8k:neg,16k:neg,24k:both"`` -> stages."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dissect_lrm.algos.sample_filter import FILTER_MODES

__all__ = ["Stage", "parse_length", "parse_schedule"]

_LENGTH = re.compile(r"^(\d+)([kK]?)$")


@dataclass(frozen=True)
class Stage:
    """One stage: its maximum response length in tokens and its sample filter mode."""

    max_response_length: int
    mode: str


def parse_length(text: str) -> int:
    """``"8k"`` -> 8192 (k = 1024, as in the paper's 8192/16384/24576), ``"3000"`` -> 3000."""
    match = _LENGTH.match(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise ValueError(
            f"bad length {text!r}: expected a positive integer, optionally with a 'k' suffix (8k)"
        )
    return int(match.group(1)) * (1024 if match.group(2) else 1)


def parse_schedule(text: str) -> list[Stage]:
    """Parse ``"LEN:MODE,LEN:MODE,..."`` (e.g. ``"8k:neg,16k:neg,24k:both"``) into :class:`Stage` s.

    Raises:
        ValueError: naming the offending stage, for an empty schedule, a stage without ``:``, a bad length,
            or an unknown mode.
    """
    if not text or not text.strip():
        raise ValueError("empty schedule: expected 'LEN:MODE,...', e.g. '8k:neg,16k:neg,24k:both'")
    stages: list[Stage] = []
    for position, item in enumerate(text.split(","), start=1):
        length_text, sep, mode = item.strip().partition(":")
        if not sep:
            raise ValueError(
                f"schedule stage {position} {item.strip()!r}: expected 'LEN:MODE', e.g. '8k:neg'"
            )
        try:
            length = parse_length(length_text)
        except ValueError as error:
            raise ValueError(f"schedule stage {position} {item.strip()!r}: {error}") from None
        mode = mode.strip()
        if mode not in FILTER_MODES:
            raise ValueError(
                f"schedule stage {position} {item.strip()!r}: unknown mode {mode!r}, expected one of {FILTER_MODES}"
            )
        stages.append(Stage(length, mode))
    return stages
