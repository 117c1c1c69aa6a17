"""Multiple-choice grading (GPQA, MMLU-STEM, GaoKao): option letters from the question, letter extraction."""

from __future__ import annotations

import re

from dissect_lrm.reward.extract import ThinkPolicy, fallback_answer, last_boxed, solution_after_think

# Every letter an option may carry (MMLU-STEM and GPQA use A-D, GaoKao up to J), and the options
# assumed when the question lists none.
OPTION_LETTERS = "ABCDEFGHIJ"
DEFAULT_OPTIONS = "ABCD"
_ANY = f"[{OPTION_LETTERS}]"
_OPTION = re.compile(rf"(?:^|\n|\s)\(({_ANY})\)\s*(.*)")
_LETTER_TOKEN = re.compile(rf"^\(?\s*({_ANY}(?:\s*[,、和and&]*\s*{_ANY})*)\s*\)?(?:[.:)\s]|$)")
_PAREN_LETTER = re.compile(rf"\(({_ANY})\)")


def option_letters(question: str | None) -> dict[str, str]:
    """Map of option letter -> option text, read from "(A) ..." lines of the question."""
    if not question:
        return {}
    options: dict[str, str] = {}
    for line in question.splitlines():
        match = _OPTION.search(line)
        if match and match.group(1) not in options:
            options[match.group(1)] = match.group(2).strip()
    return options


def _clean(text: str) -> str:
    for wrapper in ("\\text{", "\\textbf{", "\\mathrm{", "\\mathbf{"):
        while wrapper in text:
            text = text.replace(wrapper, "", 1).replace("}", "", 1)
    return text.replace("$", "").strip()


def _letters_in(answer: str, allowed: str) -> str | None:
    """The sorted letter set named by an answer like "C", "(C)", "C: text", "A, D" or "A B D"."""
    cleaned = _clean(answer).strip().strip("*").strip()
    match = _LETTER_TOKEN.match(cleaned)
    if match:
        letters = {ch for ch in match.group(1) if ch.isupper()}
        if letters and letters <= set(allowed):
            return "".join(sorted(letters))
    return None


def _option_text_match(answer: str, options: dict[str, str]) -> str | None:
    key = _clean(answer).lower().strip(" .")
    if not key:
        return None
    matches = [letter for letter, text in options.items() if _clean(text).lower().strip(" .") == key]
    return matches[0] if len(matches) == 1 else None


def extract_choice(
    response: str, question: str | None = None, think: ThinkPolicy = "required", letters: str | None = None
) -> str | None:
    """The chosen letter(s), sorted (e.g. "C" or "AD"), or None. Letters come from the question."""
    options = option_letters(question)
    allowed = letters or ("".join(sorted(options)) if options else DEFAULT_OPTIONS)
    solution = solution_after_think(response, think)
    if solution is None:
        return None
    boxed, _ = last_boxed(solution)
    candidates = [boxed] if boxed is not None else []
    fallback = fallback_answer(solution)
    if fallback is not None:
        candidates.append(fallback)
    for candidate in candidates:
        letters_found = _letters_in(candidate, allowed)
        if letters_found is None and options:
            letters_found = _option_text_match(candidate, options)
        if letters_found is not None:
            return letters_found
    if boxed is None:
        tail = solution[-500:]
        found = [m for m in _PAREN_LETTER.findall(tail) if m in allowed]
        if found:
            return found[-1]
    return None


def normalize_choice(ground_truth: str) -> str:
    """The gold letter set, sorted: "A B D" and "DBA" become "ABD"."""
    letters = {ch for ch in ground_truth.upper() if ch in OPTION_LETTERS}
    if not letters:
        raise ValueError(f"not a multiple-choice answer: {ground_truth!r}")
    return "".join(sorted(letters))


def choice_equal(ground_truth: str, choice: str | None) -> bool:
    return choice is not None and normalize_choice(ground_truth) == choice
