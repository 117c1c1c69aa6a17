"""The supervised warm start makes the tiny model imperfect but not hopeless."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dissect_lrm.reward.compute_score import compute_score
from dissect_lrm.tiny.task import BOXED_INSTRUCTION, DATA_SOURCE, make_problems


def _responses(tok, model, problem, **generate_kwargs) -> list[str]:
    """The model's responses to ``problem``'s chat prompt (greedy by default)."""
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": problem.question + BOXED_INSTRUCTION}],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = tok(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=24, **generate_kwargs)
    return tok.batch_decode(out[:, ids["input_ids"].shape[1] :], skip_special_tokens=True)


def _greedy_accuracy(model_dir, problems) -> tuple[float, float]:
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    correct = formatted = 0
    for p in problems:
        (text,) = _responses(tok, model, p, do_sample=False)
        result = compute_score(DATA_SOURCE, text, p.answer)
        correct += result["acc"]
        formatted += result["format_ok"]
    return correct / len(problems), formatted / len(problems)


def test_random_model_fails_and_warm_model_learns_the_format(tiny_kit, warm_tiny_kit):
    problems = make_problems(30, seed=123)
    cold_acc, cold_format = _greedy_accuracy(tiny_kit.model_dir, problems)
    warm_acc, warm_format = _greedy_accuracy(warm_tiny_kit.model_dir, problems)
    assert cold_acc == 0.0 and cold_format == 0.0
    assert warm_format >= 0.9
    assert 0.05 <= warm_acc < 1.0


def test_warm_model_sampled_at_temperature_1_gives_mixed_groups(warm_tiny_kit):
    """The e2e trainer runs sample 4 responses per prompt at T=1: most groups must hold both a right
    and a wrong answer, or the policy gradient is zero and their checks of an update prove nothing."""
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(warm_tiny_kit.model_dir)
    model = AutoModelForCausalLM.from_pretrained(warm_tiny_kit.model_dir).eval()
    mixed = 0
    problems = make_problems(16, seed=321)
    for p in problems:
        texts = _responses(tok, model, p, do_sample=True, temperature=1.0, top_p=1.0, num_return_sequences=4)
        right = sum(compute_score(DATA_SOURCE, text, p.answer)["acc"] for text in texts)
        mixed += 0 < right < 4
    assert mixed >= len(problems) // 2, f"{mixed} of {len(problems)} groups mixed"
