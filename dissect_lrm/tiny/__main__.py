"""Build the tiny-model kit on the command line: ``python -m dissect_lrm.tiny --output-dir DIR``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dissect_lrm.cli_options import renamed

# Written last, so a kit whose build was interrupted is never mistaken for a finished one.
MANIFEST = "kit.json"
# The training parquet plus an `offline_solutions` column (the worked solution), for the injection
# scripts' CPU mode: the real offline file is a training parquet with that extra column.
OFFLINE_TRAIN = "train_offline.parquet"


def kit_paths(out_dir: Path) -> dict[str, str]:
    """The files a kit in ``out_dir`` consists of (what the scripts' CPU mode reads)."""
    data = out_dir / "data"
    return {
        "model_dir": str(out_dir / "model"),
        "train_parquet": str(data / "train.parquet"),
        "val_parquet": str(data / "val.parquet"),
        "train_offline_parquet": str(data / OFFLINE_TRAIN),
    }


def write_offline_parquet(out_dir: Path, seed: int) -> Path:
    """The kit's training rows plus each problem's worked solution as its one verified offline solution.

    The solutions are regenerated from the task's seed (the parquet holds answers, not solutions); the
    questions are checked against the parquet so a kit built with other options is refused, not mislabelled.
    """
    import pandas as pd

    from dissect_lrm.tiny.task import BOXED_INSTRUCTION, make_problems

    train = pd.read_parquet(out_dir / "data" / "train.parquet")
    problems = make_problems(len(train), seed=seed)
    prompts = [messages[-1]["content"] for messages in train["prompt"]]
    if prompts != [problem.question + BOXED_INSTRUCTION for problem in problems]:
        raise ValueError(
            f"{out_dir}: the training rows are not the tiny task's with seed {seed}; "
            "cannot attach offline solutions (pass the kit's --seed)"
        )
    train["offline_solutions"] = [[problem.solution] for problem in problems]
    path = out_dir / "data" / OFFLINE_TRAIN
    # Written aside and renamed: a reader (or a second writer of the same kit) never sees half a file.
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    train.to_parquet(partial, index=False)
    os.replace(partial, path)
    return path


def build(out_dir: Path, *, train_size: int, val_size: int, seed: int, warm_start_steps: int) -> dict:
    """Build the kit (model, tokenizer, train/val/offline parquet) and write its manifest last."""
    from dissect_lrm.tiny import build_tiny_kit

    build_tiny_kit(
        out_dir, train_size=train_size, val_size=val_size, seed=seed, warm_start_steps=warm_start_steps
    )
    write_offline_parquet(out_dir, seed)
    manifest = {
        "train_size": train_size,
        "val_size": val_size,
        "seed": seed,
        "warm_start_steps": warm_start_steps,
        **kit_paths(out_dir),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def existing(out_dir: Path, seed: int) -> dict | None:
    """The paths of a usable kit already in ``out_dir``, else None.

    A kit built by this command has its manifest (written last). A kit built by ``build_tiny_kit``
    directly (e.g. the tests' session fixture) is adopted when its model and parquet files are there:
    only the offline parquet is added, the model is never rebuilt.
    """
    manifest_path = out_dir / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if all(Path(p).exists() for p in kit_paths(out_dir).values()):
            return manifest
    paths = kit_paths(out_dir)
    core = (
        Path(paths["model_dir"]) / "config.json",
        Path(paths["train_parquet"]),
        Path(paths["val_parquet"]),
    )
    if not all(p.is_file() for p in core):
        return None
    if not Path(paths["train_offline_parquet"]).is_file():
        write_offline_parquet(out_dir, seed)
    return {"adopted": True, "seed": seed, **paths}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dissect_lrm.tiny",
        description="Build the tiny Qwen2 model, its tokenizer and the synthetic arithmetic task "
        "(OUT/model, OUT/data/{train,val,train_offline}.parquet), as the CPU mode of scripts/train uses.",
    )
    renamed(
        parser, "--output-dir", "--out-dir", dest="out_dir", required=True, help="kit directory (created)"
    )
    parser.add_argument("--train-size", type=int, default=64)
    parser.add_argument("--val-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--warm-start-steps",
        type=int,
        default=300,
        help="supervised warm-start steps, so the model is imperfect but not hopeless (0 = random)",
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="use the kit already in OUT when its model and data are there (whatever its build options were)",
    )
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir).resolve()
    manifest = existing(out_dir, args.seed) if args.reuse else None
    if manifest is None:
        print(f"tiny kit: building in {out_dir}", file=sys.stderr, flush=True)
        manifest = build(
            out_dir,
            train_size=args.train_size,
            val_size=args.val_size,
            seed=args.seed,
            warm_start_steps=args.warm_start_steps,
        )
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
