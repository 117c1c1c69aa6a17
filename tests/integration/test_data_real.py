"""Real data from ../shared: every benchmark's row count, answers graded 1.0 by our grader, verl-loadable parquet."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from dissect_lrm.data.benchmarks import BENCHMARKS, build_benchmarks
from dissect_lrm.data.schema import validate_train_parquet
from dissect_lrm.data.train import build_training_set
from dissect_lrm.eval.benchmarks import load_benchmark
from dissect_lrm.eval.grading import grade

EXPECTED_ROWS = {
    "aime24": 30,
    "aime25": 30,
    "amc23": 83,
    "math500": 500,
    "minerva": 272,
    "olympiadbench": 675,
    "gpqa_diamond": 198,
    "mmlu_stem": 3018,
    "gaokao": 351,
}
SAMPLE_PER_BENCHMARK = 40


@pytest.fixture(scope="module")
def eval_dir(shared_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_sets")
    results = build_benchmarks(
        list(BENCHMARKS), out, from_dir=shared_dir / "data" / "benchmarks", strict=True
    )
    assert [r.skipped for r in results] == [[]] * len(BENCHMARKS)
    return out


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_benchmark_row_counts(eval_dir, name):
    records = list(load_benchmark(eval_dir / f"{name}.jsonl").problems)
    assert len(records) == EXPECTED_ROWS[name] == BENCHMARKS[name].expected_rows
    assert len({r.id for r in records}) == len(records)
    expected_task = "multiple_choice" if name in ("gpqa_diamond", "mmlu_stem", "gaokao") else "math"
    assert {r.task for r in records} == {expected_task}


def test_multiple_choice_sets_have_four_options_and_gaokao_multi_labels(eval_dir):
    for name in ("gpqa_diamond", "mmlu_stem", "gaokao"):
        records = list(load_benchmark(eval_dir / f"{name}.jsonl").problems)
        assert {tuple(r.choices) for r in records} == {("A", "B", "C", "D")}, name
    gaokao = list(load_benchmark(eval_dir / "gaokao.jsonl").problems)
    multi = sorted(r.answers[0] for r in gaokao if len(r.answers[0]) > 1)
    assert multi == ["ABD", "AC", "AC", "ACD", "AD", "BCD", "CD"]  # 7 multi-answer labels, "A B D" included


def _sample(records: list, count: int) -> list:
    step = max(1, len(records) // count)
    return records[::step][:count]


@pytest.mark.parametrize("name", list(EXPECTED_ROWS))
def test_answers_round_trip_through_the_grader(eval_dir, name):
    # graded as `eval` grades what it loaded: the consumer of these files
    records = _sample(list(load_benchmark(eval_dir / f"{name}.jsonl").problems), SAMPLE_PER_BENCHMARK)
    right = [f"...\n</think>\n\\boxed{{{r.answers[0]}}}" for r in records]
    assert [s["score"] for s in grade(name, "robust", records, right)] == [1.0] * len(records)
    # and the grader really checks: another option letter / another problem's answer scores 0
    if records[0].task == "multiple_choice":
        wrong = [next(c for c in r.choices if c not in r.answers[0]) for r in records]
    else:
        neighbours = [records[(i + 1) % len(records)].answers[0] for i in range(len(records))]
        keep = [
            i for i, w in enumerate(neighbours) if w not in records[i].answers
        ]  # AMC has repeated answers
        records, wrong = [records[i] for i in keep], [neighbours[i] for i in keep]
    responses = [f"...\n</think>\n\\boxed{{{w}}}" for w in wrong]
    assert [s["score"] for s in grade(name, "robust", records, responses)] == [0.0] * len(records)


@pytest.fixture(scope="module")
def train_dir(shared_dir, tiny_kit, tmp_path_factory):
    out = tmp_path_factory.mktemp("train_set")
    sources = [
        shared_dir / "data" / "train" / name for name in ("deepscaler_aime.json", "deepscaler_math.json")
    ]
    report = build_training_set(
        sources, out, tokenizer=tiny_kit.model_dir, max_prompt_tokens=512, val_size=200
    )
    return out, report


def test_training_build_accounts_for_every_row(train_dir):
    out, report = train_dir
    assert report.input_rows == 975 + 7474
    assert report.val_rows == 200
    assert report.dropped["duplicate"] > 0 and report.dropped["too_long"] > 0
    assert report.train_rows + report.val_rows + sum(report.dropped.values()) == report.input_rows
    assert validate_train_parquet(out / "train.parquet") == report.train_rows
    assert validate_train_parquet(out / "val.parquet") == 200


def test_training_parquet_has_the_reference_columns_and_types(shared_dir, train_dir):
    out, _ = train_dir
    reference = pq.read_schema(shared_dir / "data" / "train" / "aime_verl_format.parquet")
    built = pq.read_schema(out / "train.parquet")
    assert built.names == reference.names
    for name in ("data_source", "ability", "prompt", "reward_model"):
        assert built.field(name).type == reference.field(name).type, name
    # extra_info keeps the reference's fields with the same types and adds problem_id and source_index
    built_extra, reference_extra = built.field("extra_info").type, reference.field("extra_info").type
    for field in reference_extra:
        assert built_extra.field(field.name).type == field.type
    assert {f.name for f in built_extra} - {f.name for f in reference_extra} == {"problem_id", "source_index"}


def test_training_parquet_loads_in_verls_rlhf_dataset(train_dir, tiny_kit, tmp_path):
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    out, report = train_dir
    tokenizer = AutoTokenizer.from_pretrained(tiny_kit.model_dir)
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "max_prompt_length": 512,
            "filter_overlong_prompts": True,
            "cache_dir": str(tmp_path),
        }
    )
    dataset = RLHFDataset([str(out / "val.parquet")], tokenizer, config)
    # verl's own overlong filter agrees with ours: nothing left to drop at the same limit
    assert len(dataset) == report.val_rows
    item = dataset[0]
    assert item["raw_prompt"][0]["role"] == "user"
    assert item["raw_prompt"][0]["content"].endswith("within \\boxed{}.")
    assert item["reward_model"]["style"] == "rule" and item["reward_model"]["ground_truth"]
    assert item["index"] == item["extra_info"]["index"] == 0
