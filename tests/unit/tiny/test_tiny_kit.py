"""The tiny-model kit produces the production formats: chat template, parquet schema, HF model."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dissect_lrm.tiny.task import BOXED_INSTRUCTION, make_problems, to_verl_row


def test_problems_are_seeded_and_answers_are_right():
    first, second = make_problems(20, seed=3), make_problems(20, seed=3)
    assert first == second
    assert make_problems(20, seed=4) != first
    for p in first:
        a, op, b = p.question.removeprefix("What is ").removesuffix("?").split()
        expected = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert p.answer == str(expected)
        assert p.solution.endswith(f"\\boxed{{{expected}}}")
        assert "</think>" in p.solution


def test_verl_row_has_the_training_schema():
    row = to_verl_row(make_problems(1)[0], "train", 0)
    assert row["prompt"][0]["role"] == "user"
    assert row["prompt"][0]["content"].endswith(BOXED_INSTRUCTION)
    assert set(row["reward_model"]) == {"style", "ground_truth"}
    assert row["extra_info"]["problem_id"] == "arith-000000"


def test_parquet_columns_match_the_real_training_parquet(tiny_kit, shared_dir):
    real_path = shared_dir / "data" / "train" / "aime_verl_format.parquet"
    if not real_path.is_file():
        pytest.skip(f"{real_path} is absent")
    ours = pd.read_parquet(tiny_kit.train_parquet)
    real = pd.read_parquet(real_path)
    for column in ("data_source", "prompt", "reward_model", "extra_info"):
        assert column in ours.columns and column in real.columns
    assert set(real.iloc[0]["reward_model"]) <= set(ours.iloc[0]["reward_model"])


def test_tokenizer_template_and_think_tags(tiny_kit):
    tok = AutoTokenizer.from_pretrained(tiny_kit.model_dir)
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "What is 1 + 2?"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<think>\n")
    text = "1 + 2 = 3\n</think>\n\\boxed{3}"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    # verl's reward loop decodes with skip_special_tokens=True: </think> must survive it.
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert tok.convert_tokens_to_ids("</think>") in ids
    digits = [tok.convert_tokens_to_ids(d) for d in "0123456789"]
    assert len(set(digits)) == 10 and tok.unk_token_id not in digits
    assert tok.eos_token_id != tok.pad_token_id


def test_model_is_a_loadable_qwen2(tiny_kit):
    model = AutoModelForCausalLM.from_pretrained(tiny_kit.model_dir)
    assert model.config.model_type == "qwen2"
    out = model(torch.tensor([[1, 2, 3]]))
    assert out.logits.shape[-1] == model.config.vocab_size


def test_kit_command_takes_output_dir_and_the_old_spelling_with_a_warning(tmp_path, capsys):
    import pytest

    from dissect_lrm.tiny.__main__ import MANIFEST
    from dissect_lrm.tiny.__main__ import main as kit_main

    # No warm start: this is about the option's spelling, and the warm start is tested on its own.
    kit = ["--train-size", "4", "--val-size", "2", "--warm-start-steps", "0"]
    assert kit_main(["--output-dir", str(tmp_path / "new"), *kit]) == 0
    assert (tmp_path / "new" / MANIFEST).is_file()
    with pytest.warns(FutureWarning, match="--out-dir is deprecated; use --output-dir"):
        assert kit_main(["--out-dir", str(tmp_path / "new"), *kit, "--reuse"]) == 0
    assert "warning: --out-dir is deprecated; use --output-dir" in capsys.readouterr().err


def test_offline_parquet_is_complete_and_leaves_nothing_aside(tmp_path):
    """The offline-solutions parquet is written aside and renamed: the file holds every training row with
    its worked solution, and no partial file stays behind."""
    import pandas as pd

    from dissect_lrm.tiny import build_tiny_kit
    from dissect_lrm.tiny.__main__ import OFFLINE_TRAIN, write_offline_parquet
    from dissect_lrm.tiny.task import make_problems

    build_tiny_kit(tmp_path, train_size=5, val_size=2, seed=3)
    path = write_offline_parquet(tmp_path, seed=3)
    assert path == tmp_path / "data" / OFFLINE_TRAIN
    frame = pd.read_parquet(path)
    assert [list(solutions) for solutions in frame["offline_solutions"]] == [
        [problem.solution] for problem in make_problems(5, seed=3)
    ]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == sorted(
        ["train.parquet", "val.parquet", OFFLINE_TRAIN]
    )
