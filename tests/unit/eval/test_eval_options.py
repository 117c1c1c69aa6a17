"""One backend-options builder for eval, profile and data teacher: same flags, same options, old spellings."""

from __future__ import annotations

import pytest

from dissect_lrm.cli import build_parser
from dissect_lrm.eval.options import backend_options, generation_protocol

OPENAI = ["--backend", "openai", "--served-model-name", "srv", "--api-key-env", "MY_KEY", "--max-retries", "3",
          "--concurrency", "5", "--base-url", "http://h:1/v1"]  # fmt: skip
COMMANDS = {
    "eval": ["eval", "--model", "m", "-b", "x.jsonl"],
    "profile": ["profile", "--dataset", "d.parquet", "--model", "m", "--output-dir", "o"],
    "teacher": ["data", "teacher", "--train", "t.parquet", "--student-store", "s.jsonl", "--teacher-model", "m",
                "--output-dir", "o"],
}  # fmt: skip


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_generating_command_passes_the_same_backend_options(command, monkeypatch):
    monkeypatch.setenv("MY_KEY", "secret")
    args = build_parser().parse_args(COMMANDS[command] + OPENAI)
    options = backend_options(args)
    assert options["served_model_name"] == "srv" and options["api_key"] == "secret"
    assert (options["max_retries"], options["concurrency"], options["base_urls"]) == (3, 5, ["http://h:1/v1"])
    vllm = backend_options(build_parser().parse_args(COMMANDS[command] + ["--backend", "vllm", "--gpus", "0,1",
                                                                          "--tp", "2", "--revision", "abc"]))  # fmt: skip
    assert (vllm["gpus"], vllm["tensor_parallel_size"], vllm["revision"]) == ("0,1", 2, "abc")


def test_old_spellings_still_work_with_a_warning(capsys):
    with pytest.warns(FutureWarning, match="--gen-seed is deprecated"):
        args = build_parser().parse_args(
            COMMANDS["profile"][:-2] + ["--out", "o", "--gen-seed", "7", "--top-k", "5"]
        )
    assert args.seed == 7 and args.out == "o"
    protocol = generation_protocol(args)
    assert (protocol.seed, protocol.top_k, protocol.temperature) == (7, 5, 0.6)
    assert "--out is deprecated; use --output-dir" in capsys.readouterr().err
