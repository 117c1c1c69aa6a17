"""verl's own ``naive`` reward-loop manager runs our compute_score: correct results, and samples share the pool."""

# This is why the project needs no reward manager of its own: the naive manager already hands every sync
# scorer call to the event loop's thread executor, and our deadline pool is thread-safe, so a step's
# samples are graded in parallel on all pool workers without blocking the loop.

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import torch

from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.reward.timeout import shared_pool

verl = pytest.importorskip("verl")

from omegaconf import OmegaConf  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402
from verl import DataProto  # noqa: E402
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager  # noqa: E402
from verl.trainer.ppo.reward import load_reward_manager  # noqa: E402

# (gold, answer written after </think>, expected score in deepscaler mode); the surds need a worker.
CASES = [
    ("12", "12", 1.0),
    ("12", "13", 0.0),
    ("\\frac{3}{7}", "\\dfrac{3}{7}", 1.0),
    ("3\\sqrt{2}", "\\sqrt{18}", 1.0),
    ("3\\sqrt{2}", "\\sqrt{19}", 0.0),
    ("5\\sqrt{3}", "\\sqrt{75}", 1.0),
    ("(1, 2)", "\\left(1,2\\right)", 1.0),
    ("2^{10}", "1024", 0.0),  # the original grader's miss, reproduced
]
REPEAT = 8  # rollouts per prompt


def _config(mode: str) -> Any:
    # The keys verl's RewardLoopWorker reads, with the custom reward function given as a package path.
    return OmegaConf.create(
        {
            "reward": {
                "custom_reward_function": {
                    "path": "pkg://dissect_lrm.reward.compute_score",
                    "name": "compute_score",
                    "reward_kwargs": {"mode": mode},
                },
                "reward_manager": {
                    "source": "register",
                    "name": "naive",
                    "module": {"path": None, "name": None},
                },
            }
        }
    )


def _batch(tokenizer: Any, rows: list[tuple[str, str]]) -> DataProto:
    """Left-padded prompts and right-padded responses, as the agent loop hands them to the reward loop."""
    prompt_ids = [tokenizer.encode(f"Problem {i}: what is it?") for i in range(len(rows))]
    response_ids = [
        tokenizer.encode(f"Some reasoning.\n</think>\nThe answer is $\\boxed{{{answer}}}$.")
        for _, answer in rows
    ]
    prompt_len, response_len = max(map(len, prompt_ids)), max(map(len, response_ids))
    pad = tokenizer.pad_token_id
    prompts = torch.full((len(rows), prompt_len), pad)
    responses = torch.full((len(rows), response_len), pad)
    mask = torch.zeros((len(rows), prompt_len + response_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        prompts[i, prompt_len - len(p) :] = torch.tensor(p)
        responses[i, : len(r)] = torch.tensor(r)
        mask[i, prompt_len - len(p) : prompt_len + len(r)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompts, "responses": responses, "attention_mask": mask},
        non_tensors={
            "data_source": np.array(["math"] * len(rows), dtype=object),
            "reward_model": np.array([{"ground_truth": gold} for gold, _ in rows], dtype=object),
            "extra_info": np.array([{"index": i} for i in range(len(rows))], dtype=object),
        },
    )


async def _score_like_reward_loop_worker(mode: str, tokenizer: Any, data: DataProto) -> list[dict]:
    # RewardLoopWorker builds the manager in its event loop and runs one task per sample, all at once.
    manager = load_reward_manager(_config(mode), tokenizer)
    assert isinstance(manager, NaiveRewardManager)
    tasks = [asyncio.create_task(manager.run_single(data[i : i + 1])) for i in range(len(data))]
    return await asyncio.gather(*tasks)


def test_naive_manager_scores_a_batch_in_parallel_on_the_pool(tiny_kit: Any) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_kit.model_dir))
    rows = [(gold, answer) for gold, answer, _ in CASES] * REPEAT
    data = _batch(tokenizer, rows)
    pool = shared_pool()
    pool.reset_stats()

    outputs = asyncio.run(_score_like_reward_loop_worker("deepscaler", tokenizer, data))

    assert [out["reward_score"] for out in outputs] == [expected for *_, expected in CASES] * REPEAT
    info = outputs[3]["reward_extra_info"]
    assert set(info) >= {"score", "acc", "pred", "format_ok", "timed_out", "math_verify_rescued"}
    assert info["pred"] == "\\sqrt{18}" and info["acc"] == 1.0
    # the same answers scored directly agree, so the manager adds nothing and loses nothing
    direct = [
        compute_score("math", f"x\n</think>\nThe answer is $\\boxed{{{a}}}$.", g, mode="deepscaler")["score"]
        for g, a in rows
    ]
    assert [out["reward_score"] for out in outputs] == direct
    # concurrent run_single calls kept every pool worker busy at once (the scorer runs in executor threads)
    assert pool.peak_busy == pool.max_workers
    rm_scores = NaiveRewardManager.assemble_rm_scores(data, [out["reward_score"] for out in outputs])
    assert rm_scores.shape == data.batch["responses"].shape
    assert rm_scores.sum().item() == sum(out["reward_score"] for out in outputs)
