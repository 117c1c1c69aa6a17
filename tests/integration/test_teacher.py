"""Offline teacher samples end to end with the warm tiny model as student and teacher (hf backend, CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from dissect_lrm.data import cli
from dissect_lrm.data.schema import OFFLINE_SOLUTIONS_COLUMN, validate_train_parquet
from dissect_lrm.data.teacher import OUTCOMES, REPORT_FILE, TRAIN_FILE, store_accuracy
from dissect_lrm.eval.store import Store
from dissect_lrm.reward.compute_score import compute_scores

# The warm tiny model solves about half of its samples, unevenly over problems: 8 student runs and a
# threshold of 1/2 split the problems into easy and hard ones, so both outcomes are exercised.
NUM_PROBLEMS, STUDENT_RUNS, CANDIDATES, SAMPLE_SIZE, THRESHOLD = 12, 8, 4, 2, 0.5


@pytest.fixture(scope="module")
def train_subset(warm_tiny_kit, tmp_path_factory) -> Path:
    """The first problems of the tiny training parquet (its own offline_solutions column included)."""
    path = tmp_path_factory.mktemp("teacher_data") / "train.parquet"
    pq.write_table(pq.read_table(warm_tiny_kit.train_parquet).slice(0, NUM_PROBLEMS), path)
    return path


def teacher_argv(kit, train: Path, out: Path, *student: str) -> list[str]:
    student = student or ("--student-model", str(kit.model_dir), "--student-name", "student")
    return ["data", "teacher", "--train", str(train), *student, "--teacher-model", str(kit.model_dir),
            "--teacher-name", "teacher", "--student-runs", str(STUDENT_RUNS), "--candidates", str(CANDIDATES),
            "--sample-size", str(SAMPLE_SIZE), "--threshold", str(THRESHOLD), "--max-tokens", "20",
            "--threads", "1", "--batch-size", "16", "--output-dir", str(out), "--no-progress"]  # fmt: skip


@pytest.fixture(scope="module")
def first_run(warm_tiny_kit, train_subset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("teacher_out")
    assert cli.main(teacher_argv(warm_tiny_kit, train_subset, out)) == 0
    return out


def read_report(out: Path) -> dict:
    return json.loads((out / REPORT_FILE).read_text())


def test_every_problem_has_the_outcome_its_stores_imply(first_run, train_subset):
    report = read_report(first_run)
    problems = report["problems"]
    assert len(problems) == NUM_PROBLEMS and sum(report["counts"].values()) == NUM_PROBLEMS
    assert set(report["counts"]) == set(OUTCOMES)
    # Recount the student's accuracy and the teacher's verified candidates from the stores themselves.
    student = store_accuracy(Store.read(report["stores"]["student"]))
    assert all(runs == STUDENT_RUNS for _, runs in student.values())
    teacher = store_accuracy(Store.read(report["stores"]["teacher"])) if "teacher" in report["stores"] else {}
    for problem in problems:
        correct, runs = student[problem["problem_id"]]
        hard = correct / runs < THRESHOLD
        assert problem["student_accuracy"] == correct / runs
        if not hard:
            assert problem["outcome"] == "above_threshold" and problem["problem_id"] not in teacher
            continue
        assert teacher[problem["problem_id"]][1] == CANDIDATES
        solvable = teacher[problem["problem_id"]][0] > 0
        assert problem["outcome"] in (("kept", "not_sampled") if solvable else ("no_correct_candidate",))
    solvable_count = report["counts"]["kept"] + report["counts"]["not_sampled"]
    assert report["counts"]["kept"] == min(SAMPLE_SIZE, solvable_count)
    # The tiny model is imperfect: the fixture must exercise both hard and easy problems.
    assert report["counts"]["above_threshold"] > 0 and report["counts"]["kept"] > 0


def test_kept_rows_carry_verified_solutions(first_run, train_subset):
    report = read_report(first_run)
    kept = [p for p in report["problems"] if p["outcome"] == "kept"]
    frame = pd.read_parquet(first_run / TRAIN_FILE)
    assert validate_train_parquet(first_run / TRAIN_FILE) == len(kept)
    source = pd.read_parquet(train_subset)
    assert [row["problem_id"] for row in frame["extra_info"]] == [p["problem_id"] for p in kept]
    for (_, row), problem in zip(frame.iterrows(), kept):
        original = source.iloc[problem["row"]]
        assert row["prompt"][0]["content"] == original["prompt"][0]["content"]
        solutions = list(row[OFFLINE_SOLUTIONS_COLUMN])
        assert solutions and len(solutions) == problem["solutions"] == len(set(solutions))
        grades = compute_scores(
            [row["data_source"]] * len(solutions),
            solutions,
            [row["reward_model"]["ground_truth"]] * len(solutions),
        )
        assert all(grade["score"] == 1 for grade in grades)


def test_second_run_redoes_nothing(first_run, warm_tiny_kit, train_subset):
    report = read_report(first_run)
    stores = [Path(path) for path in report["stores"].values()]
    before = {path: path.read_bytes() for path in stores}
    parquet_before = (first_run / TRAIN_FILE).read_bytes()
    assert cli.main(teacher_argv(warm_tiny_kit, train_subset, first_run)) == 0
    again = read_report(first_run)
    assert all(stats["generated"] == 0 for stats in again["generation"].values())
    assert {path: path.read_bytes() for path in stores} == before
    assert (first_run / TRAIN_FILE).read_bytes() == parquet_before
    assert again["problems"] == report["problems"]


def test_from_a_student_store_gives_the_same_set(first_run, warm_tiny_kit, train_subset, tmp_path):
    report = read_report(first_run)
    argv = teacher_argv(warm_tiny_kit, train_subset, tmp_path, "--student-store", report["stores"]["student"])
    assert cli.main(argv) == 0
    again = read_report(tmp_path)
    assert "student" not in again["generation"]  # read, not generated
    # Same hard problems and per-(problem, run) seeds: the teacher samples and the kept set repeat.
    assert again["problems"] == report["problems"]
    assert pd.read_parquet(tmp_path / TRAIN_FILE).equals(pd.read_parquet(first_run / TRAIN_FILE))


def test_store_of_another_dataset_is_refused(first_run, warm_tiny_kit, tmp_path, capsys):
    other = tmp_path / "other.parquet"
    pq.write_table(pq.read_table(warm_tiny_kit.train_parquet).slice(40, 4), other)
    student_store = read_report(first_run)["stores"]["student"]
    argv = teacher_argv(warm_tiny_kit, other, tmp_path / "out", "--student-store", student_store)
    assert cli.main(argv) == 2
    assert "none of its" in capsys.readouterr().err


def test_solutions_longer_than_a_response_are_dropped_at_build_time(
    first_run, warm_tiny_kit, train_subset, tmp_path
):
    import shutil

    report = read_report(first_run)
    verified = sum(problem["solutions"] for problem in report["problems"])
    assert verified > 0
    for limit, expected_dropped in ((1000, 0), (1, verified)):  # 1 token cannot hold a solution and its EOS
        out = tmp_path / f"limit_{limit}"
        shutil.copytree(first_run, out)  # the stores resume: nothing is generated again
        assert (
            cli.main([*teacher_argv(warm_tiny_kit, train_subset, out), "--max-response-tokens", str(limit)])
            == 0
        )
        again = read_report(out)
        assert again["settings"]["solutions_too_long"] == expected_dropped
        assert sum(problem["solutions"] for problem in again["problems"]) == verified - expected_dropped
    assert again["counts"]["kept"] == 0
