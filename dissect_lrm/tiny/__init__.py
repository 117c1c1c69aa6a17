"""Tiny-model kit: an offline tokenizer, a random tiny Qwen2 and a synthetic math task, built in seconds.

Used by the tests and the CPU demo so that the CPU path is the production path (same parquet schema,
same chat-template shape, same boxed answers, a Qwen2-family model loaded with ``from_pretrained``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dissect_lrm.tiny.task import make_problems, write_verl_parquet


@dataclass(frozen=True)
class TinyKit:
    model_dir: Path
    train_parquet: Path
    val_parquet: Path

    @classmethod
    def at(cls, out_dir: str | Path) -> TinyKit:
        """The kit that ``build_tiny_kit(out_dir, ...)`` builds (its layout under ``out_dir``)."""
        out_dir = Path(out_dir)
        return cls(out_dir / "model", out_dir / "data" / "train.parquet", out_dir / "data" / "val.parquet")


def build_tiny_kit(
    out_dir: str | Path,
    *,
    train_size: int = 64,
    val_size: int = 16,
    seed: int = 0,
    hidden_size: int = 128,
    warm_start_steps: int = 0,
    offline_solutions: bool = False,
) -> TinyKit:
    """Build model+tokenizer under ``out_dir/model`` and train/val parquet under ``out_dir/data``.

    ``offline_solutions=True`` adds the offline-solutions column to the training parquet.
    ``warm_start_steps > 0`` fine-tunes the random model on worked solutions of problems disjoint
    from the train/val sets (see ``tiny.sft``), so it starts imperfect but not hopeless.
    """
    from dissect_lrm.tiny.model import build_model
    from dissect_lrm.tiny.tokenizer import build_tokenizer

    kit = TinyKit.at(out_dir)
    tokenizer = build_tokenizer(kit.model_dir)
    build_model(kit.model_dir, tokenizer, hidden_size=hidden_size, seed=seed)
    if warm_start_steps > 0:
        from dissect_lrm.tiny.sft import warm_start

        # decay: a steady end point. At a constant rate the model ended where the rate's last spike left it
        # (300 steps: about 5% right when sampled), and GRPO runs on it often drew no mixed group at all.
        warm_start(
            kit.model_dir,
            make_problems(2000, seed=seed + 10_000),
            steps=warm_start_steps,
            seed=seed,
            decay=True,
        )
    problems = make_problems(train_size + val_size, seed=seed)
    write_verl_parquet(problems[:train_size], kit.train_parquet, "train", offline_solutions=offline_solutions)
    write_verl_parquet(problems[train_size:], kit.val_parquet, "test")
    return kit
