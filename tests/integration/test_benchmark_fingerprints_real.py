"""Fingerprints of the real benchmark files and the bytes the builders write are frozen (stores resume on them).

Recorded with the code as it stood before the eval schema and the builders' record were unified.
"""

from __future__ import annotations

import hashlib

import pytest

from dissect_lrm.data.benchmarks import BENCHMARKS, build_benchmarks
from dissect_lrm.eval.benchmarks import SHARED_FILES, load_benchmark

# original test JSON stem -> (benchmark name, rows, fingerprint)
ORIGINAL = {
    "aime": ("aime24", 30, "1d8f1aaa4e42b6f3"),
    "aime25": ("aime25", 30, "f95b0979ce475a32"),
    "amc": ("amc23", 83, "697e9cb160873e30"),
    "math": ("math500", 500, "5fb6c21287ff488e"),
    "minerva": ("minerva", 272, "f28545753d411e4b"),
    "olympiad_bench": ("olympiadbench", 675, "ea851a7dda55a6c3"),
    "gpqa_diamond": ("gpqa", 198, "05c7431858a8abe5"),
    "mmlu_stem": ("mmlu_stem", 3018, "41f7c506644bd10e"),
    "gaokao_math_qa": ("gaokao", 351, "cf783d7fe857c80a"),
}
# `data benchmarks` output -> (fingerprint of the JSONL, sha256 of its bytes)
BUILT = {
    "aime24": ("403f5f44dfb750d0", "137f3b41a53e9ed0adf050651410ba74c389dd47e9cfa0f78fbff1776295ca24"),
    "aime25": ("2ab1d217b854178d", "08e8cc6392623e8ab73c500b644a4cc9fed1d135a60edc392e9a9b68c726f2a2"),
    "amc23": ("448ef112adee3e52", "e264b0cd69c738383fe446d353786731e94a2f07530505f53965feb56f6002f4"),
    "math500": ("653f7dd94a63e464", "b7a90111f36e9930e4f0a6e761f7b4a0e8e5efa8ab15852bfa7cc990807b1344"),
    "minerva": ("cd93cda8ee4be4e8", "0a60916e8d4e9ac28d9006567c3acd9b4cc7f135bf505ef71a0e6d62fb444147"),
    "olympiadbench": ("495fa4e4b8a505dc", "cb2b015e462a784c004f510f5f4e9ef79e942f915389a5d592ee149735e16463"),
    "gpqa_diamond": ("fb109043820a4bb7", "378a23933d8247344c2a90de886ff1ba77c14027195e6a5cffa25d4fbc4c1986"),
    "mmlu_stem": ("1abe361cadb94435", "2896007ac2f9dcc1937c2eaefd3ffd92f1283506fb5904115aefa60d645dcb96"),
    "gaokao": ("e8de58587cf72ce1", "b818dfc94bc1389bbca5bdee27afa252602623cf8af787ee621fee3ed620c1bd"),
}  # fmt: skip


@pytest.mark.parametrize("stem", list(ORIGINAL))
def test_original_file_fingerprints(shared_dir, stem):
    benchmark = load_benchmark(shared_dir / "data" / "benchmarks" / f"{stem}.json")
    assert (benchmark.name, len(benchmark), benchmark.fingerprint) == ORIGINAL[stem]
    assert set(ORIGINAL) == set(SHARED_FILES)


@pytest.fixture(scope="module")
def built(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    build_benchmarks(list(BENCHMARKS), out, from_dir=shared_dir / "data" / "benchmarks", strict=True)
    return out


@pytest.mark.parametrize("name", list(BUILT))
def test_built_files_bytes_and_fingerprints(built, name):
    path = built / f"{name}.jsonl"
    assert (load_benchmark(path).fingerprint, hashlib.sha256(path.read_bytes()).hexdigest()) == BUILT[name]
