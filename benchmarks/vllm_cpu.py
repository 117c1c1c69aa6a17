"""vLLM on CPU against our transformers paths, measured in the same run on the tiny model.

1. Training step time: the tiny GRPO job with ``rollout.name=vllm`` (verl's vLLM rollout on vLLM's
   CPU build) and with ``rollout.name=hf`` (our transformers rollout); mean step time after warm-up
   and the ratio vllm / hf, plus each run's wall time.
2. Evaluation throughput: the same prompts and sampling through the ``vllm`` and ``hf`` eval
   backends; generated tokens per second (engine start excluded) and the ratio vllm / hf.

    python benchmarks/vllm_cpu.py --steps 3 --prompts 64
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from dissect_lrm.demo import training_overrides
from dissect_lrm.tiny import TinyKit, build_tiny_kit
from dissect_lrm.trainer.launcher import run_training


def step_times(kit, workdir: Path, steps: int, rollout: str, timeout: float) -> tuple[list[float], float]:
    started = time.time()
    overrides = [
        *training_overrides(kit, workdir, steps),
        f"actor_rollout_ref.rollout.name={rollout}",
        "trainer.v1.trainer_mode=dissect_sync",
        "trainer.save_freq=-1",
    ]
    run = run_training(overrides, workdir, timeout_s=timeout)
    if run.timed_out or run.returncode != 0:
        raise SystemExit(run.describe_failure())
    return [run.metrics[s]["timing_s/step"] for s in sorted(run.metrics)], time.time() - started


def eval_tokens_per_s(backend_name: str, model: str, requests) -> float:
    from dissect_lrm.eval.backends import create_backend

    options = {"dtype": "float32", "max_model_len": 1024} if backend_name == "vllm" else {"batch_size": 16}
    backend = create_backend(backend_name, model, **options)
    try:
        started = time.perf_counter()
        tokens = sum(result.num_tokens or 0 for _, result in backend.generate(requests))
        return tokens / (time.perf_counter() - started)
    finally:
        backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=3, help="GRPO steps per run (step 1 is warm-up)")
    parser.add_argument("--prompts", type=int, default=64, help="evaluation requests")
    parser.add_argument("--max-tokens", type=int, default=64, help="evaluation output cap")
    parser.add_argument("--timeout", type=float, default=900, help="limit per training run (s)")
    parser.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--skip-training", action="store_true", help="only the evaluation throughput")
    args = parser.parse_args()

    root = Path(args.workdir or tempfile.mkdtemp(prefix="dissect_vllm_cpu_"))
    kit_dir = root / "kit"
    if (kit_dir / "model" / "config.json").is_file():  # a kit built by an earlier run in --workdir
        kit = TinyKit.at(kit_dir)
    else:
        kit = build_tiny_kit(kit_dir, warm_start_steps=300)
    if not args.skip_training:
        means = {}
        for rollout in ("vllm", "hf"):
            times, wall = step_times(kit, root / rollout, args.steps, rollout, args.timeout)
            means[rollout] = statistics.mean(times[1:] or times)
            print(f"step time {rollout:>4}: run wall {wall:6.1f} s | steps " + ", ".join(f"{t:.2f}" for t in times) + " s")  # fmt: skip
        print(f"mean step time after warm-up: vllm {means['vllm']:.2f} s, hf {means['hf']:.2f} s, "
              f"ratio vllm/hf = {means['vllm'] / means['hf']:.2f}")  # fmt: skip

    from dissect_lrm.eval.backends import GenerationRequest
    from dissect_lrm.tiny.task import make_problems

    requests = [
        GenerationRequest(({"role": "user", "content": p.question},), seed, 0.6, 0.95, args.max_tokens, 1024)
        for seed, p in enumerate(make_problems(args.prompts, seed=5))
    ]
    rates = {name: eval_tokens_per_s(name, str(kit.model_dir), requests) for name in ("vllm", "hf")}
    print(f"eval throughput on {args.prompts} prompts: vllm {rates['vllm']:.0f} tok/s, hf {rates['hf']:.0f} tok/s, "
          f"ratio vllm/hf = {rates['vllm'] / rates['hf']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
