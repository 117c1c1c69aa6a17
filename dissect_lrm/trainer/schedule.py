"""Run a multi-stage schedule (Table 2) stage by stage, each from the previous stage's weights, resumably.

``python -m dissect_lrm.trainer.schedule --schedule "8k:neg,16k:neg,24k:both" --output-dir DIR -- <overrides>``

Every stage is one ``python -m dissect_lrm.trainer.main`` run with its own ``data.max_response_length``,
``algorithm.sample_filter.mode`` and checkpoint directory (``DIR/stage<i>-<tokens>-<mode>/checkpoints``).
Stage 1 starts from ``actor_rollout_ref.model.path``; stage i > 1 from the HF weights that stage i-1
saved at its last step (``global_step_N/actor/huggingface``, written because the runner adds ``hf_model``
to the actor's checkpoint contents). Progress lives in ``DIR/schedule_manifest.json``: with ``--resume``
a finished stage is never rerun and an interrupted one continues from its last checkpoint (verl's
``trainer.resume_mode=auto`` on the stage's own directory). Resuming with another schedule is refused.

This module runs in the driver and imports no verl: the stages are subprocesses.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shlex
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from dissect_lrm.algos.schedule import parse_schedule

MANIFEST_NAME = "schedule_manifest.json"
MANIFEST_VERSION = 1
LOCK_NAME = ".schedule.lock"
# "8k" means 8 * 1024 tokens; --length-unit U makes it 8 * U (e.g. 3 for the tiny CPU model).
DEFAULT_LENGTH_UNIT = 1024
DEFAULT_SAVE_FREQ = 10
PENDING, RUNNING, DONE = "pending", "running", "done"
MODEL_PATH_KEY = "actor_rollout_ref.model.path"
# The actor's checkpoint must hold HF weights: the next stage starts from them.
SAVE_CONTENTS = "actor_rollout_ref.actor.checkpoint.save_contents=[model,optimizer,extra,hf_model]"
HF_WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")

__all__ = [
    "DEFAULT_LENGTH_UNIT",
    "MANIFEST_NAME",
    "Manifest",
    "ScheduleError",
    "StageRecord",
    "build_manifest",
    "find_final_checkpoint",
    "load_manifest",
    "main",
    "override_value",
    "reconcile",
    "save_manifest",
    "scale_length",
    "stage_command",
]


class ScheduleError(RuntimeError):
    """A user-facing problem with a schedule or its output directory (reported without a traceback)."""


@dataclass
class StageRecord:
    """One stage's plan and progress, as stored in the manifest."""

    index: int  # 1-based, as printed
    max_response_length: int
    mode: str
    dir: str  # relative to the output directory
    status: str = PENDING
    attempts: int = 0
    init_model: str | None = None
    final_step: int | None = None
    final_model: str | None = None
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class Manifest:
    """The whole schedule: its definition (fixed at creation) and each stage's progress."""

    schedule: str
    length_unit: int
    stages: list[StageRecord]
    overrides: list[str] = field(default_factory=list)
    stage_overrides: dict[str, list[str]] = field(default_factory=dict)
    version: int = MANIFEST_VERSION

    def signature(self) -> tuple[int, tuple[tuple[int, str], ...]]:
        """What must not change between runs of one output directory: the stages as trained."""
        return self.length_unit, tuple((s.max_response_length, s.mode) for s in self.stages)

    def describe(self) -> str:
        stages = ",".join(f"{s.max_response_length}:{s.mode}" for s in self.stages)
        return f"'{self.schedule}' (length unit {self.length_unit}: {stages} tokens)"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        if data.get("version") != MANIFEST_VERSION:
            raise ScheduleError(f"unsupported manifest version {data.get('version')!r}")
        stages = [StageRecord(**stage) for stage in data["stages"]]
        return cls(
            schedule=data["schedule"],
            length_unit=int(data["length_unit"]),
            stages=stages,
            overrides=list(data.get("overrides", [])),
            stage_overrides={str(k): list(v) for k, v in data.get("stage_overrides", {}).items()},
            version=data["version"],
        )


def scale_length(tokens: int, length_unit: int) -> int:
    """Tokens of a parsed stage length under ``length_unit`` tokens per "k" (8192 -> 24 with unit 3)."""
    if length_unit == DEFAULT_LENGTH_UNIT:
        return tokens
    return max(1, round(tokens * length_unit / DEFAULT_LENGTH_UNIT))


def build_manifest(
    schedule: str,
    *,
    length_unit: int = DEFAULT_LENGTH_UNIT,
    overrides: Sequence[str] = (),
    stage_overrides: dict[str, list[str]] | None = None,
) -> Manifest:
    """A fresh manifest for ``schedule`` (raises ScheduleError naming a bad stage)."""
    if length_unit < 1:
        raise ScheduleError(f"--length-unit must be a positive integer, got {length_unit}")
    try:
        parsed = parse_schedule(schedule)
    except ValueError as error:
        raise ScheduleError(str(error)) from None
    stage_overrides = dict(stage_overrides or {})
    unknown = sorted(set(stage_overrides) - {str(i) for i in range(1, len(parsed) + 1)})
    if unknown:
        raise ScheduleError(
            f"--stage-override for stage(s) {unknown}, but the schedule has {len(parsed)} stages"
        )
    stages = []
    for index, stage in enumerate(parsed, start=1):
        tokens = scale_length(stage.max_response_length, length_unit)
        stages.append(StageRecord(index, tokens, stage.mode, f"stage{index}-{tokens}-{stage.mode}"))
    return Manifest(
        schedule=schedule.strip(),
        length_unit=length_unit,
        stages=stages,
        overrides=list(overrides),
        stage_overrides=stage_overrides,
    )


def load_manifest(path: Path) -> Manifest | None:
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ScheduleError(f"{path}: not a readable schedule manifest ({error})") from error


def save_manifest(manifest: Manifest, path: Path) -> None:
    """Write atomically: a kill at any moment leaves either the old or the new manifest."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    os.replace(tmp, path)


def reconcile(existing: Manifest | None, requested: Manifest, *, resume: bool) -> Manifest:
    """The manifest to run: the requested one for a new directory, the stored one when resuming.

    Raises ScheduleError when the directory already holds a schedule and ``resume`` is off, or when it
    holds a different schedule (other stage lengths or modes, or another length unit).
    """
    if existing is None:
        return requested
    if not resume:
        raise ScheduleError(
            f"the output directory already holds schedule {existing.describe()}; pass --resume to continue "
            "it, or choose another --output-dir"
        )
    if existing.signature() != requested.signature():
        raise ScheduleError(
            f"refusing to resume: the output directory holds schedule {existing.describe()}, "
            f"but {requested.describe()} was requested; resume with the same schedule or use another --output-dir"
        )
    if (existing.overrides, existing.stage_overrides) != (requested.overrides, requested.stage_overrides):
        print(
            "[schedule] note: the trainer overrides differ from the first run's; the remaining stages use "
            "the new ones",
            file=sys.stderr,
        )
    # The stages' progress comes from disk; the overrides from this invocation.
    existing.overrides = requested.overrides
    existing.stage_overrides = requested.stage_overrides
    return existing


def override_value(overrides: Sequence[str], key: str) -> str | None:
    """The value Hydra will use for ``key`` (the last ``key=``, ``+key=`` or ``++key=``), else None."""
    value = None
    for item in overrides:
        name, sep, text = item.partition("=")
        if sep and name.lstrip("+") == key:
            value = text
    return value


def find_final_checkpoint(checkpoint_dir: Path) -> tuple[int, Path]:
    """``(step, hf_dir)`` of the last checkpoint verl wrote in ``checkpoint_dir``, with HF weights in it."""
    tracker = checkpoint_dir / "latest_checkpointed_iteration.txt"
    if not tracker.is_file():
        raise ScheduleError(
            f"the stage finished but left no checkpoint ({tracker} is missing); the schedule needs "
            "trainer.save_freq > 0 (verl then always saves the last step)"
        )
    step = int(tracker.read_text().strip())
    actor_dir = checkpoint_dir / f"global_step_{step}" / "actor"
    hf_dir = actor_dir / "huggingface"
    weights = [p for pattern in HF_WEIGHT_PATTERNS for p in hf_dir.glob(pattern)]
    if not (hf_dir / "config.json").is_file() or not weights:
        raise ScheduleError(
            f"{hf_dir} holds no HF weights (config.json and *.safetensors); the actor checkpoint needs "
            f"hf_model in its save_contents. Convert the FSDP shards with: python -m verl.model_merger merge "
            f"--backend fsdp --local_dir {actor_dir} --target_dir {hf_dir}"
        )
    return step, hf_dir


def stage_command(
    manifest: Manifest, stage: StageRecord, output_dir: Path, *, python: str = sys.executable
) -> list[str]:
    """The trainer command of ``stage``: the user's overrides, then the stage's, then its own extras."""
    stage_dir = output_dir / stage.dir
    base_name = override_value(manifest.overrides, "trainer.experiment_name") or output_dir.name
    overrides = [
        *manifest.overrides,
        f"data.max_response_length={stage.max_response_length}",
        f"algorithm.sample_filter.mode={stage.mode}",
        f"trainer.default_local_dir={stage_dir / 'checkpoints'}",
        "trainer.resume_mode=auto",  # an interrupted stage continues from its last checkpoint
        SAVE_CONTENTS,
        f"trainer.experiment_name={base_name}-s{stage.index}-{stage.max_response_length}-{stage.mode}",
    ]
    if stage.init_model is not None:
        overrides.append(f"{MODEL_PATH_KEY}={stage.init_model}")
    if override_value(manifest.overrides, "trainer.save_freq") is None:
        overrides.append(f"trainer.save_freq={DEFAULT_SAVE_FREQ}")
    overrides += manifest.stage_overrides.get(str(stage.index), [])
    return [python, "-m", "dissect_lrm.trainer.main", *overrides]


SCHEDULE_KEYS = ("data.max_response_length", "algorithm.sample_filter.mode", "trainer.default_local_dir")


def check_overrides(manifest: Manifest) -> list[str]:
    """Refuse overrides that would break the schedule's contract; return notes on ignored ones.

    The schedule sets each stage's length, filter mode and checkpoint directory after the common
    overrides (so a common value is ignored, with a note); a per-stage override of them is refused.
    """
    notes = [
        f"{key}={override_value(manifest.overrides, key)} is ignored: the schedule sets it for every stage"
        for key in SCHEDULE_KEYS
        if override_value(manifest.overrides, key) is not None
    ]
    for stage in manifest.stages:
        extra = manifest.stage_overrides.get(str(stage.index), [])
        for key in SCHEDULE_KEYS:
            if override_value(extra, key) is not None:
                raise ScheduleError(
                    f"--stage-override {stage.index}:{key}=...: the schedule sets {key} itself"
                )
        save_freq = override_value([*manifest.overrides, *extra], "trainer.save_freq")
        if save_freq is not None and (not save_freq.lstrip("-").isdigit() or int(save_freq) <= 0):
            raise ScheduleError(
                f"trainer.save_freq={save_freq}: every stage must checkpoint (the next stage starts from its "
                "last step's weights); give a positive value"
            )
    return notes


# ----------------------------------------------------------------------------- running stages


class _Interrupted(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, _frame: Any) -> None:
    raise _Interrupted(signum)


def run_stage_process(
    command: list[str], *, env: dict[str, str], cwd: Path, log: IO[str], timeout_s: float | None
) -> tuple[int, bool]:
    """Run one stage, streaming its output to stdout and ``log``; ``(returncode, timed_out)``."""
    from dissect_lrm.trainer.launcher import run_bounded  # imports no verl

    returncode, _, timed_out = run_bounded(
        command, cwd=cwd, env=env, timeout_s=timeout_s, echo=True, sink=log.write, die_with_parent=True
    )
    return returncode, timed_out


@contextlib.contextmanager
def _exclusive(output_dir: Path) -> Iterator[None]:
    with open(output_dir / LOCK_NAME, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScheduleError(f"another schedule runner is using {output_dir}") from None
        yield


def _isolated(command: list[str]) -> list[str]:
    from dissect_lrm.trainer.launcher import isolated  # imports no verl

    return isolated(command)


def run_schedule(
    manifest: Manifest,
    output_dir: Path,
    *,
    python: str = sys.executable,
    stage_timeout_s: float | None = None,
    isolate: bool = False,
) -> int:
    """Run every stage not yet done, in order, recording progress in the manifest. Returns an exit code."""
    manifest_path = output_dir / MANIFEST_NAME
    base_model = override_value(manifest.overrides, MODEL_PATH_KEY)
    for stage in manifest.stages:
        label = (
            f"stage {stage.index}/{len(manifest.stages)} ({stage.max_response_length} tokens, {stage.mode})"
        )
        if stage.status == DONE:
            if not stage.final_model or not Path(stage.final_model).is_dir():
                raise ScheduleError(
                    f"{label} is recorded as done, but its final weights {stage.final_model} are missing"
                )
            print(f"[schedule] {label}: done, final weights {stage.final_model}; not rerun", flush=True)
            continue
        previous = manifest.stages[stage.index - 2] if stage.index > 1 else None
        stage.init_model = previous.final_model if previous is not None else base_model
        resuming = stage.status == RUNNING
        stage.status = RUNNING
        stage.attempts += 1
        stage.started_at = stage.started_at or time.time()
        save_manifest(manifest, manifest_path)

        stage_dir = output_dir / stage.dir
        stage_dir.mkdir(parents=True, exist_ok=True)
        command = stage_command(manifest, stage, output_dir, python=python)
        # verl's file logger truncates its file on open: one metrics file per attempt.
        env = {
            **os.environ,
            "VERL_FILE_LOGGER_PATH": str(stage_dir / f"metrics.attempt{stage.attempts}.jsonl"),
        }
        (stage_dir / f"command.attempt{stage.attempts}.sh").write_text(shlex.join(command) + "\n")
        how = "resuming from its last checkpoint" if resuming else f"starting from {stage.init_model}"
        print(f"[schedule] {label}: attempt {stage.attempts}, {how}", flush=True)
        with open(stage_dir / f"train.attempt{stage.attempts}.log", "w") as log:
            returncode, timed_out = run_stage_process(
                _isolated(command) if isolate else command,
                env=env,
                cwd=Path.cwd(),
                log=log,
                timeout_s=stage_timeout_s,
            )
        if returncode != 0:
            why = f"timed out after {stage_timeout_s} s" if timed_out else f"exited with {returncode}"
            print(
                f"[schedule] {label} {why}; log {stage_dir / f'train.attempt{stage.attempts}.log'}. "
                "Rerun with --resume to continue it from its last checkpoint.",
                file=sys.stderr,
                flush=True,
            )
            return 1
        step, hf_dir = find_final_checkpoint(stage_dir / "checkpoints")
        expected = override_value(
            [*manifest.overrides, *manifest.stage_overrides.get(str(stage.index), [])],
            "trainer.total_training_steps",
        )
        if expected is not None and expected.isdigit() and step != int(expected):
            raise ScheduleError(
                f"{label} exited cleanly but its last checkpoint is step {step}, not {expected}"
            )
        stage.status, stage.final_step, stage.final_model = DONE, step, str(hf_dir)
        stage.finished_at = time.time()
        save_manifest(manifest, manifest_path)
        print(f"[schedule] {label}: done at step {step}, final weights {hf_dir}", flush=True)
    print(
        f"[schedule] all {len(manifest.stages)} stages done; final weights {manifest.stages[-1].final_model}"
    )
    return 0


# ----------------------------------------------------------------------------- command line

_STAGE_OVERRIDE = re.compile(r"^(\d+):(.+=.*)$")


def _parse_stage_overrides(items: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for item in items:
        match = _STAGE_OVERRIDE.match(item)
        if match is None:
            raise ScheduleError(
                f"--stage-override {item!r}: expected STAGE:KEY=VALUE, e.g. 2:actor_rollout_ref.rollout.n=16"
            )
        result.setdefault(str(int(match.group(1))), []).append(match.group(2))
    return result


def build_parser(prog: str = "python -m dissect_lrm.trainer.schedule") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a multi-stage schedule (paper Table 2): each stage is one trainer run with its own "
        "maximum response length and sample-filter mode, starting from the previous stage's final weights. "
        "Trainer overrides go after '--'.",
        epilog='example: dissect-lrm schedule --schedule "8k:neg,16k:neg,24k:both" '
        "--output-dir runs/nnb --resume -- actor_rollout_ref.model.path=deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B "
        "data.train_files=data/deepscaler/train.parquet ...",
    )
    parser.add_argument(
        "--schedule", required=True, help="stages 'LEN:MODE,...', e.g. '8k:neg,16k:neg,24k:both'"
    )
    parser.add_argument("--output-dir", required=True, help="manifest and one directory per stage")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the schedule in --output-dir (finished stages are skipped, an interrupted one resumes "
        "from its last checkpoint); refused if it holds another schedule. Starts afresh when there is none",
    )
    parser.add_argument(
        "--length-unit",
        type=int,
        default=DEFAULT_LENGTH_UNIT,
        help="tokens per 'k' of a stage length (default 1024: 8k = 8192). The CPU mode uses e.g. 3 "
        "(8k = 24 tokens); plain token counts scale by UNIT/1024",
    )
    parser.add_argument(
        "--stage-override",
        action="append",
        default=[],
        metavar="STAGE:KEY=VALUE",
        help="an override for one stage only (1-based), applied last, e.g. 2:actor_rollout_ref.rollout.n=16",
    )
    parser.add_argument("--stage-timeout-s", type=float, default=None, help="kill a stage after this long")
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="run each stage in a loopback-only network + PID namespace (as the tests do; single node only)",
    )
    parser.add_argument("--python", default=sys.executable, help="interpreter of the stages")
    parser.add_argument("--dry-run", action="store_true", help="print each stage's command and exit")
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" in argv:
        split = argv.index("--")
        argv, overrides = argv[:split], argv[split + 1 :]
    else:
        overrides = []
    args = (build_parser(prog) if prog else build_parser()).parse_args(argv)
    output_dir = Path(args.output_dir).resolve()
    try:
        requested = build_manifest(
            args.schedule,
            length_unit=args.length_unit,
            overrides=overrides,
            stage_overrides=_parse_stage_overrides(args.stage_override),
        )
        for note in check_overrides(requested):
            print(f"[schedule] note: {note}", file=sys.stderr)
        if args.dry_run:
            for stage in requested.stages:
                if stage.index > 1:
                    stage.init_model = f"<stage {stage.index - 1} final weights>"
                print(f"# stage {stage.index}: {stage.max_response_length} tokens, mode {stage.mode}")
                print(shlex.join(stage_command(requested, stage, output_dir, python=args.python)))
            return 0
        output_dir.mkdir(parents=True, exist_ok=True)
        with _exclusive(output_dir):
            manifest = reconcile(load_manifest(output_dir / MANIFEST_NAME), requested, resume=args.resume)
            save_manifest(manifest, output_dir / MANIFEST_NAME)
            previous = {
                sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGHUP)
            }
            try:
                return run_schedule(
                    manifest,
                    output_dir,
                    python=args.python,
                    stage_timeout_s=args.stage_timeout_s,
                    isolate=args.isolate,
                )
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    except ScheduleError as error:
        print(f"schedule: error: {error}", file=sys.stderr)
        return 2
    except (_Interrupted, KeyboardInterrupt) as error:
        print(f"[schedule] interrupted ({error}); rerun with --resume to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
