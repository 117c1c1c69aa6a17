"""Find the final answer in a model response: text after ``</think>``, last ``\\boxed{}``, fallbacks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ThinkPolicy = Literal["required", "optional"]

THINK_CLOSE = "</think>"
# Commands whose argument is the final answer. \framebox appears in AoPS-style worked solutions.
BOX_COMMANDS = ("\\boxed", "\\fbox", "\\framebox")
# Answers longer than this are not answers (a runaway box swallowed the response); refusing them keeps
# every later stage bounded.
MAX_ANSWER_CHARS = 2000

# "The final answer is X" / "Answer: X". Only the tail of the response is searched (bounded work).
_FALLBACK_TAIL_CHARS = 4000
_FALLBACK_PATTERNS = (
    re.compile(r"final answer is[:\s]*([^\n]{1,300})", re.IGNORECASE),
    re.compile(r"(?:^|\n)\s*\**answer\**\s*[:：]\s*([^\n]{1,300})", re.IGNORECASE),
    re.compile(r"\banswer is[:\s]*([^\n]{1,300})", re.IGNORECASE),
)


@dataclass(frozen=True)
class Extraction:
    """The answer found in a response; ``answer is None`` means a format error (scored incorrect)."""

    answer: str | None
    reason: str  # "boxed", "fallback", "no_think", "unclosed_box", "no_answer", "too_long"

    @property
    def format_ok(self) -> bool:
        return self.answer is not None


def solution_after_think(
    text: str, think: ThinkPolicy = "required", first_segment_only: bool = False
) -> str | None:
    """The part of ``text`` after the first ``</think>``; ``None`` when it is required but absent.

    ``first_segment_only`` reproduces the original release, which kept only the text between the first
    and the second ``</think>``.
    """
    if think not in ("required", "optional"):
        raise ValueError(f"think must be 'required' or 'optional', got {think!r}")
    index = text.find(THINK_CLOSE)
    if index < 0:
        return None if think == "required" else text
    rest = text[index + len(THINK_CLOSE) :]
    if first_segment_only:
        end = rest.find(THINK_CLOSE)
        if end >= 0:
            rest = rest[:end]
    return rest


def _match_braces(text: str, open_index: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``open_index``, or -1 if unclosed. ``\\{`` is literal."""
    depth = 0
    i = open_index
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2  # an escaped character (\{, \}, \\) never opens or closes a group
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def last_boxed(text: str) -> tuple[str | None, str]:
    """Content of the last ``\\boxed{..}``/``\\fbox{..}``/``\\framebox{..}`` (nested braces) or ``\\boxed x``.

    Returns ``(content, reason)``; content is None when there is no box or the last box is unclosed
    (a truncated response must not fall back to an earlier, abandoned box).
    """
    n = len(text)
    # Latest position of each command; only the consumed one is searched again (linear overall).
    positions = {cmd: text.rfind(cmd) for cmd in BOX_COMMANDS}
    while True:
        command = max(positions, key=positions.__getitem__)
        start = positions[command]
        if start < 0:
            return None, "no_answer"
        i = start + len(command)
        if i < n and text[i].isalpha():
            # e.g. \boxedx is another command, not a box: look further left
            positions[command] = text.rfind(command, 0, start)
            continue
        break
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "[":  # \framebox[width]{...}
        close = text.find("]", i)
        if close > 0:
            i = close + 1
    if i < n and text[i] == "{":
        close = _match_braces(text, i)
        if close < 0:
            return None, "unclosed_box"
        content = text[i + 1 : close].strip()
    else:
        # "\boxed 5": TeX takes one token; we take the run up to whitespace or a math delimiter.
        match = re.match(r"[^\s$]+", text[i : i + MAX_ANSWER_CHARS + 1])
        if match is None:
            return None, "unclosed_box"
        content = match.group(0).rstrip(".,;")
    if not content:
        return None, "no_answer"
    if len(content) > MAX_ANSWER_CHARS:
        return None, "too_long"
    return content, "boxed"


def fallback_answer(text: str) -> str | None:
    """The answer of a "final answer is X" / "Answer: X" sentence near the end of ``text``."""
    tail = text[-_FALLBACK_TAIL_CHARS:]
    for pattern in _FALLBACK_PATTERNS:
        matches = list(pattern.finditer(tail))
        if matches:
            answer = matches[-1].group(1).strip()
            answer = answer.strip("$ ").rstrip(".")
            answer = answer.strip("$ *")
            if answer.startswith("\\(") and answer.endswith("\\)"):
                answer = answer[2:-2].strip()
            if answer:
                return answer
    return final_line_answer(tail)


# A last line that is only math ("$x = 5$", "\[ \frac{1}{2} \]") or only a bare short value ("**42**").
_DISPLAY_MATH = re.compile(r"^(?:\$\$(.+)\$\$|\$([^$]+)\$|\\\[(.+)\\\]|\\\((.+)\\\))$")
_BARE_VALUE = re.compile(r"^[-+]?[\w\\{}^/.,()\[\]]{1,40}$")


def final_line_answer(text: str) -> str | None:
    """The answer a response states alone on its last line: a line of math only, or a bare short value.

    Prose lines are never read ("so we get 5 apples" has no unique answer), which keeps this precise.
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    line = lines[-1].strip("* ").rstrip(".").strip("* ")
    match = _DISPLAY_MATH.match(line)
    if match:
        answer = next(group for group in match.groups() if group is not None).strip()
        return answer or None
    if _BARE_VALUE.match(line) and any(ch.isdigit() for ch in line):
        return line
    return None


_BOX_START = re.compile(r"\\(?:boxed|fbox|framebox)(?![A-Za-z])\s*\{")
# Between two boxes of one answer ("\boxed{2} and \boxed{3}"): only separators, spaces and math delimiters.
_BOX_GAP = re.compile(r"^[\s$,;]*(?:(?:and|or|,|;|\\text\{\s*(?:and|or)\s*\}|\\quad)[\s$,;]*)?$")
_MAX_JOINED_BOXES = 10


def _with_adjacent_boxes(solution: str, last: str) -> str:
    """The last box, joined with the boxes just before it when only separators stand between them.

    Several boxes in a row state several answers ("x = \\boxed{2} or \\boxed{3}" reads "2, 3"); a box followed
    by any other text is an earlier, superseded answer and is not joined.
    """
    tail = solution[-(_MAX_JOINED_BOXES * (MAX_ANSWER_CHARS + 40)) :]
    spans = []
    for match in _BOX_START.finditer(tail):
        close = _match_braces(tail, match.end() - 1)
        if close > 0:
            spans.append((match.start(), close, tail[match.end() : close].strip()))
    if len(spans) < 2 or spans[-1][2] != last:
        return last
    parts = [last]
    for (_, end, content), (start, _, _) in zip(reversed(spans[:-1]), reversed(spans[1:])):
        if len(parts) >= _MAX_JOINED_BOXES or not content or not _BOX_GAP.match(tail[end + 1 : start]):
            break
        parts.append(content)
    joined = ", ".join(reversed(parts))
    return joined if len(joined) <= MAX_ANSWER_CHARS else last


def extract_answer(
    response: str,
    think: ThinkPolicy = "required",
    fallback: bool = False,
    first_segment_only: bool = False,
) -> Extraction:
    """The final answer of ``response``: after ``</think>`` (if required), the last box, else a fallback."""
    if not isinstance(response, str):
        raise TypeError(f"response must be str, got {type(response).__name__}")
    solution = solution_after_think(response, think, first_segment_only)
    if solution is None:
        return Extraction(None, "no_think")
    content, reason = last_boxed(solution)
    if content is not None:
        return Extraction(_with_adjacent_boxes(solution, content), reason)
    if fallback and reason == "no_answer":
        answer = fallback_answer(solution)
        if answer is not None and len(answer) <= MAX_ANSWER_CHARS:
            return Extraction(answer, "fallback")
    return Extraction(None, reason)
