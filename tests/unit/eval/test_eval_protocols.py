"""Protocols: Table 5 run counts, prompts and suffixes, noise prefixes, hashes, seeds, sweeps."""

from __future__ import annotations

import pytest

from dissect_lrm.eval.benchmarks import EvalProblem
from dissect_lrm.eval.protocols import (
    CHOICE_SUFFIX,
    MATH_SUFFIX,
    NOISE_HEADER,
    NOISE_SHOTS,
    PRESETS,
    Protocol,
    derive_seed,
    model_slug,
    noise_prefix,
    temperature_sweep,
)

MATH = EvalProblem("0", "  What is 1 + 1?", ("2",), "toy")
CHOICE = EvalProblem("1", "Pick.\n(A) x\n(B) y", ("B",), "gpqa", ("A", "B"))


def test_paper_defaults_and_table5_runs():
    protocol = PRESETS["math"]
    assert (protocol.temperature, protocol.top_p, protocol.max_tokens) == (0.6, 0.95, 32768)
    expected = {"aime24": 64, "aime25": 64, "amc23": 64, "gpqa": 32, "gaokao": 32, "math500": 16,
                "olympiadbench": 16, "mmlu_stem": 4, "minerva": 16}  # fmt: skip
    assert {name: protocol.runs_for(name) for name in expected} == expected
    assert PRESETS["8k"].max_tokens == 8192 and PRESETS["16k"].max_tokens == 16384
    assert (
        PRESETS["greedy"].sampling() == {"temperature": 0.0, "top_p": 1.0}
        and PRESETS["greedy"].runs_for("aime24") == 1
    )
    custom = Protocol(runs=8, runs_per_benchmark=(("aime24", 128),))
    assert custom.runs_for("aime24") == 128 and custom.runs_for("gpqa") == 8


def test_prompts_follow_the_original_scripts():
    assert MATH_SUFFIX == " Let's think step by step and output the final answer within \\boxed{}."
    protocol = PRESETS["math"]
    assert protocol.user_message(MATH) == "What is 1 + 1?" + MATH_SUFFIX  # (problem + suffix).strip()
    assert protocol.user_message(CHOICE).endswith(CHOICE_SUFFIX.strip())  # auto: letter suffix
    assert "\\boxed{A}" in CHOICE_SUFFIX
    assert PRESETS["multiple_choice"].user_message(MATH).endswith("like \\boxed{A}.")
    assert protocol.messages(MATH) == [{"role": "user", "content": protocol.user_message(MATH)}]


@pytest.mark.parametrize(("kind", "answer"), [("N1", "Answer\n150"), ("N2", "Answer\n63")])
def test_noise_prefix_shots(kind, answer):
    prefix = noise_prefix(kind, shots=3)
    assert prefix.startswith(NOISE_HEADER + "\n<BEGIN IGNORE>\n")
    assert prefix.endswith("<END IGNORE>\n\n")
    assert prefix.count(NOISE_SHOTS[kind]) == 3 and prefix.count(answer) == 3
    noisy = Protocol(noise=kind, noise_shots=3)
    assert noisy.user_message(MATH) == prefix + PRESETS["math"].user_message(MATH)
    assert noise_prefix(kind, 100).count(answer) == 100  # the original release's 100 shots
    with pytest.raises(ValueError):
        noise_prefix(kind, 0)
    with pytest.raises(ValueError):
        noise_prefix("N3", 1)  # type: ignore[arg-type]


def test_hash_identifies_what_changes_records():
    base = PRESETS["math"]
    assert base.hash == Protocol().hash
    assert base.hash == base.with_overrides(name="other", runs=3).hash  # names and run counts do not
    for change in ({"temperature": 0.7}, {"top_p": 0.9}, {"max_tokens": 8192}, {"seed": 1},
                   {"grader": "deepscaler"}, {"noise": "N1"}, {"prompt_style": "multiple_choice"}):  # fmt: skip
        assert base.with_overrides(**change).hash != base.hash, change
    assert Protocol(noise="N1", noise_shots=20).hash != Protocol(noise="N1", noise_shots=100).hash
    assert Protocol.from_dict(Protocol(runs_per_benchmark=(("a", 2),)).to_dict()) == Protocol(
        runs_per_benchmark=(("a", 2),)
    )


def test_validation():
    for bad in (
        {"temperature": -1},
        {"top_p": 0},
        {"max_tokens": 0},
        {"name": "a b"},
        {"runs": 0},
        {"grader": "x"},
    ):
        with pytest.raises(ValueError):
            Protocol(**bad)


def test_seeds_are_stable_and_distinct():
    assert derive_seed(0, "aime24", "3", 1) == derive_seed(0, "aime24", "3", 1)
    seeds = {derive_seed(0, "aime24", str(p), r) for p in range(30) for r in range(64)}
    assert len(seeds) == 30 * 64
    assert derive_seed(1, "aime24", "3", 1) != derive_seed(0, "aime24", "3", 1)
    assert all(0 <= s < 2**31 for s in seeds)


def test_temperature_sweep_and_slug():
    sweep = temperature_sweep(PRESETS["math"], [0.0, 0.6, 1.0])
    assert [p.name for p in sweep] == ["math-t0", "math-t0.6", "math-t1"]
    assert sweep[0].sampling() == {"temperature": 0.0, "top_p": 1.0} and sweep[2].top_p == 0.95
    assert len({p.hash for p in sweep}) == 3
    assert model_slug("/ckpt/run1/global_step_100/actor/huggingface") == "global_step_100--actor--huggingface"
    assert model_slug("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "DeepSeek-R1-Distill-Qwen-1.5B"
