"""Typed, validated config groups for the paper's algorithms (``algorithm.*`` keys), TRL ``GRPOConfig`` style."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from dissect_lrm.algos.injection import INJECTION_POLICIES
from dissect_lrm.algos.sample_filter import CLASSIFY_BY, FILTER_MODES, FILTER_PRESETS, w_reinforce_weights
from dissect_lrm.algos.schedule import Stage, parse_schedule

__all__ = [
    "LENGTH_REWARD_KINDS",
    "ClassWeights",
    "SampleFilterConfig",
    "RLRConfig",
    "InjectionConfig",
    "LuffyConfig",
    "TruncationMaskConfig",
    "RepetitionConfig",
    "AlgosConfig",
]

LENGTH_REWARD_KINDS = ("relative", "cosine", "overlong")

_C = TypeVar("_C", bound="_Group")


def _help(default: Any, text: str) -> Any:
    return field(default=default, metadata={"help": text})


def _group(factory: Any, text: str) -> Any:
    return field(default_factory=factory, metadata={"help": text})


class _Group:
    """Shared ``from_mapping`` / error helpers; ``prefix`` is the config path used in error messages."""

    prefix: ClassVar[str] = "algorithm"
    aliases: ClassVar[dict[str, str]] = {}

    @classmethod
    def from_mapping(cls: type[_C], mapping: Mapping[str, Any] | None) -> _C:
        """Build from a plain dict (e.g. ``OmegaConf.to_container(cfg.algorithm.rlr)``); unknown keys raise."""
        mapping = dict(mapping or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {}
        for key, value in mapping.items():
            name = cls.aliases.get(key, key)
            if name not in fields:
                public = sorted(k for k in fields if k not in cls.aliases.values()) + sorted(cls.aliases)
                raise ValueError(f"unknown config key {cls.prefix}.{key}; known keys: {', '.join(public)}")
            default = fields[name].default_factory  # nested group
            if (
                default is not dataclasses.MISSING
                and isinstance(default, type)
                and issubclass(default, _Group)
            ):
                value = default.from_mapping(value)
            elif (
                isinstance(fields[name].default, float)
                and isinstance(value, int)
                and not isinstance(value, bool)
            ):
                value = float(value)
            kwargs[name] = value
        return cls(**kwargs)

    def _fail(self, key: str, message: str) -> None:
        raise ValueError(f"{self.prefix}.{key}: {message}")

    def _check_unit_interval(self, key: str) -> None:
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            self._fail(self.aliases_inverse().get(key, key), f"must be in [0, 1], got {value!r}")

    def _check_choice(self, key: str, choices: Collection[str]) -> None:
        value = getattr(self, key)
        if value not in choices:
            self._fail(key, f"unknown value {value!r}, expected one of {'|'.join(choices)}")

    def _check_bool(self, *keys: str) -> None:
        for key in keys:
            if not isinstance(getattr(self, key), bool):
                self._fail(key, f"must be true or false, got {getattr(self, key)!r}")

    @classmethod
    def aliases_inverse(cls) -> dict[str, str]:
        return {v: k for k, v in cls.aliases.items()}


@dataclass
class ClassWeights(_Group):
    """Per-class advantage weights of the weighted sample filter (NSR / W-REINFORCE)."""

    prefix: ClassVar[str] = "algorithm.sample_filter.weights"

    pos: float = _help(
        1.0, "Multiplier of positive samples' advantages (w+). 0 silences positives' gradient."
    )
    neg: float = _help(
        1.0, "Multiplier of negative samples' advantages (w-). W-REINFORCE uses w+ = 0.1, w- = 1."
    )

    def validate(self) -> None:
        for key in ("pos", "neg"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                self._fail(key, f"must be a number >= 0, got {value!r}")


@dataclass
class SampleFilterConfig(_Group):
    """``algorithm.sample_filter``: which samples reach the loss (§3.1, Tables 1, 2, 6)."""

    prefix: ClassVar[str] = "algorithm.sample_filter"

    mode: str = _help(
        "both",
        "both | pos | neg. 'pos' trains on positive samples only (the paper's Pos run), 'neg' on negative "
        "samples only (Neg run). Applied after the advantage, so group statistics include every sample; "
        "removed samples get a zero response_mask (no PG, KL or entropy term; in no token count). With "
        "seq-mean-* loss_agg_mode verl's sequence count still includes them (start-up warns).",
    )
    by: str = _help(
        "correctness",
        "correctness | advantage_sign. The paper labels by verified correctness (negative = incorrect or "
        "unverifiable); advantage_sign uses sign(A) and treats A == 0 samples as neutral (removed by pos/neg).",
    )
    weights: ClassWeights = _group(
        ClassWeights, "{pos: w+, neg: w-}: advantage multipliers per class (weighted form), 1/1 = off."
    )
    keep_ratio: float = _help(
        0.0,
        "Probability of keeping each sample of the removed class (the original's reserve ratio); 0 = none.",
    )
    seed: int = _help(
        0,
        "Seed of the keep_ratio draws (the original's draws were unseeded, docs/original-code.md#sample-filter).",
    )
    preset: str = _help(
        "",
        "'' | w_reinforce. A named weighting instead of explicit weights: w_reinforce = W-REINFORCE "
        "(Zhu et al. 2025), weights {pos: w_reinforce_lambda, neg: 1} with mode both.",
    )
    w_reinforce_lambda: float = _help(0.1, "W-REINFORCE: advantage weight of positive samples (paper 0.1).")

    def class_weights(self) -> tuple[float, float]:
        """The (w+, w-) this config applies: the preset's, else ``weights``."""
        if self.preset == "w_reinforce":
            return w_reinforce_weights(self.w_reinforce_lambda)
        return float(self.weights.pos), float(self.weights.neg)

    def validate(self) -> None:
        self._check_choice("mode", FILTER_MODES)
        self._check_choice("preset", FILTER_PRESETS)
        if self.preset:
            if (self.weights.pos, self.weights.neg) != (1.0, 1.0):
                self._fail("preset", f"{self.preset} sets the class weights itself; leave weights at 1/1")
            if self.mode != "both":
                self._fail(
                    "preset", f"{self.preset} weights every sample; it needs mode=both, got {self.mode}"
                )
        lam = self.w_reinforce_lambda
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or lam < 0:
            self._fail("w_reinforce_lambda", f"must be a number >= 0, got {lam!r}")
        self._check_choice("by", CLASSIFY_BY)
        self.weights.validate()
        self._check_unit_interval("keep_ratio")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            self._fail("seed", f"must be an integer, got {self.seed!r}")


@dataclass
class RLRConfig(_Group):
    """``algorithm.rlr``: length reward shaping (relative length reward, eq. 6-7; cosine; DAPO overlong)."""

    prefix: ClassVar[str] = "algorithm.rlr"
    aliases: ClassVar[dict[str, str]] = {"lambda": "lambda_"}

    enable: bool = _help(
        False, "Turn length shaping on (inside the advantage estimator, which sees whole groups)."
    )
    kind: str = _help(
        "relative",
        "relative (the paper's RLR, eq. 6-7) | cosine (Yeo et al. 2025; replaces the 0/1 score) | overlong "
        "(DAPO soft overlong penalty, added to every sample).",
    )
    alpha: float = _help(
        0.75,
        "RLR: only groups with accuracy >= alpha are shaped (paper 0.75; the original's default was 0.5).",
    )
    lambda_: float = _help(
        500.0,
        "RLR (config key 'lambda'): length scale; bonus = clip((mean correct length - length) / lambda, "
        "eps_low, eps_up). Shorter than the group's mean correct length is rewarded: the sign of the original "
        "code and of the paper's text; eq. 6 as printed has the opposite sign.",
    )
    eps_low: float = _help(
        -0.5, "RLR: lower clip of the bonus (paper -0.5; > -1 keeps correct above incorrect)."
    )
    eps_up: float = _help(1.0, "RLR: upper clip of the bonus (paper 1).")
    cosine_min_value_correct: float = _help(0.5, "cosine: reward of a correct answer at the maximum length.")
    cosine_max_value_correct: float = _help(1.0, "cosine: reward of a correct answer of length 0.")
    cosine_min_value_wrong: float = _help(-1.0, "cosine: reward of a wrong answer of length 0.")
    cosine_max_value_wrong: float = _help(-0.5, "cosine: reward of a wrong answer at the maximum length.")
    overlong_buffer_length: int = _help(
        4096, "overlong: the penalty ramps from 0 to -factor over the last this-many tokens."
    )
    overlong_penalty_factor: float = _help(1.0, "overlong: penalty at the maximum length.")

    def validate(self) -> None:
        self._check_bool("enable")
        self._check_choice("kind", LENGTH_REWARD_KINDS)
        self._check_unit_interval("alpha")
        if not self.lambda_ > 0:
            self._fail("lambda", f"must be > 0, got {self.lambda_!r}")
        if self.eps_low > self.eps_up:
            self._fail("eps_low", f"must be <= eps_up, got eps_low={self.eps_low} > eps_up={self.eps_up}")
        if self.cosine_min_value_correct > self.cosine_max_value_correct:
            self._fail("cosine_min_value_correct", "must be <= cosine_max_value_correct")
        if self.cosine_min_value_wrong > self.cosine_max_value_wrong:
            self._fail("cosine_min_value_wrong", "must be <= cosine_max_value_wrong")
        if not isinstance(self.overlong_buffer_length, int) or self.overlong_buffer_length <= 0:
            self._fail(
                "overlong_buffer_length", f"must be a positive integer, got {self.overlong_buffer_length!r}"
            )
        if self.overlong_penalty_factor < 0:
            self._fail("overlong_penalty_factor", f"must be >= 0, got {self.overlong_penalty_factor!r}")


@dataclass
class InjectionConfig(_Group):
    """``algorithm.injection``: offline sample injection (§4.3, eq. 8, appendix B.5)."""

    prefix: ClassVar[str] = "algorithm.injection"

    enable: bool = _help(False, "Replace online samples of hard groups by verified offline solutions.")
    gamma: float = _help(
        0.125, "Groups with accuracy <= gamma receive offline solutions (paper 0.125 = 2 of 16 correct)."
    )
    max_inject: int = _help(
        -1, "At most this many offline samples per group; <= 0 means no cap (original -1)."
    )
    policy: str = _help(
        "incorrect_first",
        "incorrect_first (replace wrong answers first, as the original ran) | random (any online sample of "
        "the group, the paper's wording). Offline solutions are drawn in random order either way.",
    )
    seed: int = _help(0, "Seed of the row and offline-solution draws.")
    column: str = _help(
        "offline_solutions",
        "Dataset column holding each problem's verified offline solutions (list of strings).",
    )

    def validate(self) -> None:
        self._check_bool("enable")
        self._check_unit_interval("gamma")
        self._check_choice("policy", INJECTION_POLICIES)
        if not isinstance(self.max_inject, int) or isinstance(self.max_inject, bool):
            self._fail("max_inject", f"must be an integer, got {self.max_inject!r}")
        if self.enable and not self.column:
            self._fail("column", "injection is enabled but no offline-solution column is named")

    def require_column(self, available: Collection[str]) -> None:
        """Raise if injection is on and the dataset lacks the offline column (call once the data is known)."""
        if self.enable and self.column not in available:
            self._fail(
                "column", f"dataset has no column {self.column!r} (columns: {', '.join(sorted(available))})"
            )


@dataclass
class LuffyConfig(_Group):
    """LUFFY policy loss (``loss_mode=luffy``): shaped off-policy term for injected samples."""

    prefix: ClassVar[str] = "actor_rollout_ref.actor.policy_loss"
    aliases: ClassVar[dict[str, str]] = {"luffy_gamma": "gamma", "luffy_on_policy_clip": "on_policy_clip"}

    enable: bool = _help(False, "Use the LUFFY loss; requires algorithm.injection.enable.")
    gamma: float = _help(0.1, "Shaping constant of f(p) = p / (p + gamma) on off-policy tokens (LUFFY 0.1).")
    on_policy_clip: bool = _help(
        True,
        "Clip on-policy tokens with PPO (True); False reproduces the original's unclipped ratio (docs/original-code.md#luffy-unclipped).",
    )

    def validate(self) -> None:
        self._check_bool("enable", "on_policy_clip")
        if (
            isinstance(self.gamma, bool)
            or not isinstance(self.gamma, (int, float))
            or not 0.0 < self.gamma <= 1.0
        ):
            self._fail("luffy_gamma", f"must be in (0, 1], got {self.gamma!r}")


@dataclass
class TruncationMaskConfig(_Group):
    """``algorithm.truncation_mask``: zero the advantage of incorrect truncated samples (docs/original-code.md#truncation-mask)."""

    prefix: ClassVar[str] = "algorithm.truncation_mask"

    enable: bool = _help(
        False, "Zero the advantage of incorrect samples with no EOS within the length limit."
    )
    require_repetition: bool = _help(
        False,
        "Also require the repetition flag (what the original code did); needs algorithm.repetition.enable.",
    )

    def validate(self) -> None:
        self._check_bool("enable", "require_repetition")


@dataclass
class RepetitionConfig(_Group):
    """``algorithm.repetition``: n-gram repetition penalty for incorrect samples (docs/original-code.md#repetition-penalty)."""

    prefix: ClassVar[str] = "algorithm.repetition"

    enable: bool = _help(
        False, "Add the penalty to incorrect samples' rewards (the original's LUFFY script)."
    )
    ngram_size: int = _help(40, "Word n-gram size (original 40).")
    max_penalty: float = _help(
        -0.5, "Penalty when every n-gram repeats (original default -0.5, LUFFY script -2)."
    )

    def validate(self) -> None:
        self._check_bool("enable")
        if not isinstance(self.ngram_size, int) or isinstance(self.ngram_size, bool) or self.ngram_size < 1:
            self._fail("ngram_size", f"must be a positive integer, got {self.ngram_size!r}")
        if self.max_penalty > 0:
            self._fail("max_penalty", f"must be <= 0 (a penalty), got {self.max_penalty!r}")


@dataclass
class AlgosConfig(_Group):
    """All groups together, with the cross-group checks run at start-up."""

    prefix: ClassVar[str] = "algorithm"

    sample_filter: SampleFilterConfig = _group(SampleFilterConfig, "Positive/negative sample filter.")
    rlr: RLRConfig = _group(RLRConfig, "Length reward shaping.")
    injection: InjectionConfig = _group(InjectionConfig, "Offline sample injection.")
    luffy: LuffyConfig = _group(LuffyConfig, "LUFFY loss.")
    truncation_mask: TruncationMaskConfig = _group(TruncationMaskConfig, "Truncated-sample advantage mask.")
    repetition: RepetitionConfig = _group(RepetitionConfig, "Repetition penalty.")
    schedule: str = _help(
        "", "Multi-stage schedule 'LEN:MODE,...' (e.g. '8k:neg,16k:neg,24k:both'); empty = one stage."
    )

    def validate(self) -> None:
        for group in (
            self.sample_filter,
            self.rlr,
            self.injection,
            self.luffy,
            self.truncation_mask,
            self.repetition,
        ):
            group.validate()
        if self.schedule:
            try:
                parse_schedule(self.schedule)
            except ValueError as error:
                self._fail("schedule", str(error))
        if self.luffy.enable and not self.injection.enable:
            raise ValueError(
                "actor_rollout_ref.actor.policy_loss.loss_mode=luffy needs algorithm.injection.enable=true "
                "(LUFFY has no off-policy samples without injection)"
            )
        if self.truncation_mask.require_repetition and not self.repetition.enable:
            raise ValueError(
                "algorithm.truncation_mask.require_repetition=true needs algorithm.repetition.enable=true "
                "(otherwise the mask never fires, docs/original-code.md#truncation-mask)"
            )

    def stages(self) -> list[Stage]:
        """The parsed schedule (empty list when no schedule is set)."""
        return parse_schedule(self.schedule) if self.schedule else []
