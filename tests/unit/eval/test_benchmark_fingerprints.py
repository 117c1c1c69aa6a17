"""Benchmark fingerprints are frozen: stores key on them, so a loader change must not move them.

The constants were recorded with the loader as it stood before the eval schema and the data
builders' record were unified (the old code is the independent expectation).
"""

from __future__ import annotations

import json

import pytest

from dissect_lrm.eval.benchmarks import load_benchmark

# Hand-made files in each shape the loader reads: our schema (letters or {letter: text} choices,
# with the builders' task/metadata keys), the original release's schema, and a spec'ed user file.
OURS_LETTERS = [
    {"id": "a", "problem": "What is 1+1?", "answers": ["2"], "choices": None, "source": "toy"},
    {"id": "b", "problem": "Pick.\n(A) x\n(B) y", "answers": ["B"], "choices": ["A", "B"], "source": "toy"},
]
OURS_BUILT = [
    {"id": "m-0000", "problem": "Compute ½ + ½.", "answers": ["1", "1.0"], "choices": None, "source": "m",
     "task": "math", "metadata": {"source_index": 0, "level": 3}},
    {"id": "m-0001", "problem": "Q?\nAnswer Choices:\n(A) x\n(B) y\n(C) z", "answers": ["AC"],
     "choices": {"A": "x", "B": "y", "C": "z"}, "source": "m", "task": "multiple_choice", "metadata": {}},
]  # fmt: skip
# Choice letters out of order: the fingerprint keeps the file's order (it was never sorted).
OURS_ORDER = [
    {"id": "z", "problem": "Pick.\n(B) y\n(A) x", "answers": ["A"], "choices": ["B", "A"], "source": "toy"},
    {"id": "y", "problem": "Which?\n(A) p\n(B) q\n(C) r", "answers": ["AC"], "choices": {"C": "r", "A": "p", "B": "q"},
     "source": "toy", "task": "multiple_choice", "metadata": {"k": 1}},
]  # fmt: skip
ORIGINAL = [
    {"problem": "What is 2+2?", "answer": 4.0, "unique_id": "u/1"},
    {"problem": "Name it.", "answer": ["x", " y "]},
]
USER = [{"question": "What is 3+3?", "final": "6", "uid": 17}]

EXPECTED = {
    "ours_letters.jsonl": ("ours_letters", "5c61301faa1946b0"),
    "ours_built.jsonl": ("ours_built", "bb76493ae1cfda4e"),
    "ours_order.jsonl": ("ours_order", "24b1057b09a80e36"),
    "minerva.json": ("minerva", "b75acd271f73e9c5"),
    "user.jsonl:problem=question,answer=final,id=uid,name=mine": ("mine", "b3caa7c9c90998a8"),
}


def _write(tmp_path):
    (tmp_path / "ours_letters.jsonl").write_text("".join(json.dumps(r) + "\n" for r in OURS_LETTERS))
    (tmp_path / "ours_built.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in OURS_BUILT), encoding="utf-8"
    )
    (tmp_path / "ours_order.jsonl").write_text("".join(json.dumps(r) + "\n" for r in OURS_ORDER))
    (tmp_path / "minerva.json").write_text(json.dumps(ORIGINAL))
    (tmp_path / "user.jsonl").write_text("".join(json.dumps(r) + "\n" for r in USER))


@pytest.mark.parametrize("spec", list(EXPECTED))
def test_fingerprints_of_hand_made_files_are_unchanged(tmp_path, spec):
    _write(tmp_path)
    benchmark = load_benchmark(f"{tmp_path}/{spec}")
    assert (benchmark.name, benchmark.fingerprint) == EXPECTED[spec]
