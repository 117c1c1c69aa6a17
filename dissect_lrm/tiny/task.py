"""A synthetic, verifiable arithmetic task in the exact schema of the real training/eval data.

Rows look like DeepScaleR's verl parquet: ``prompt`` is a list of chat messages ending with the
R1-distill boxed-answer instruction, ``reward_model.ground_truth`` holds the answer string and the
reference solution ends with ``</think>`` followed by ``\\boxed{answer}``. So every consumer of the
real data (reward, trainer, evaluation) runs unchanged on it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

# The instruction the original release appended to every math problem (one leading space).
BOXED_INSTRUCTION = " Let's think step by step and output the final answer within \\boxed{}."
DATA_SOURCE = "synthetic/arith"


@dataclass(frozen=True)
class ArithProblem:
    problem_id: str
    question: str
    answer: str
    solution: str  # a worked response in the model's output format (thinking, then boxed answer)


def make_problem(index: int, rng: random.Random, max_operand: int = 9) -> ArithProblem:
    a, b = rng.randint(0, max_operand), rng.randint(0, max_operand)
    op = rng.choice("+-")
    result = a + b if op == "+" else a - b
    question = f"What is {a} {op} {b}?"
    # Short on purpose: a whole response fits in ~16 tokens, so CPU rollouts stay cheap.
    solution = f"{a} {op} {b} = {result}\n</think>\n\\boxed{{{result}}}"
    return ArithProblem(
        problem_id=f"arith-{index:06d}", question=question, answer=str(result), solution=solution
    )


def make_problems(count: int, seed: int = 0, max_operand: int = 9) -> list[ArithProblem]:
    rng = random.Random(seed)
    return [make_problem(i, rng, max_operand) for i in range(count)]


def to_verl_row(problem: ArithProblem, split: str, index: int, offline_solutions: bool = False) -> dict:
    """One row of verl's RLHF parquet schema (the same columns as the real training data).

    ``offline_solutions`` adds the column offline-sample injection reads: verified worked solutions
    (here the reference solution, once bare and once with a longer reasoning line).
    """
    row = {
        "data_source": DATA_SOURCE,
        "prompt": [{"role": "user", "content": problem.question + BOXED_INSTRUCTION}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": problem.answer},
        "extra_info": {"index": index, "split": split, "problem_id": problem.problem_id},
    }
    if offline_solutions:
        row["offline_solutions"] = [problem.solution, f"Let me compute. {problem.solution}"]
    return row


def write_verl_parquet(
    problems: list[ArithProblem], path: str | Path, split: str, offline_solutions: bool = False
) -> Path:
    import pandas as pd

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [to_verl_row(p, split, i, offline_solutions) for i, p in enumerate(problems)]
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path
