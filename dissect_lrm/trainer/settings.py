"""Our ``algorithm.*`` config groups, read out of verl's algorithm node (imports no verl)."""

from __future__ import annotations

import dataclasses
from typing import Any

from omegaconf import DictConfig, OmegaConf

from dissect_lrm.algos.config import AlgosConfig

OUR_ALGORITHM_KEYS = frozenset(f.name for f in dataclasses.fields(AlgosConfig))


def algos_config(algorithm: Any) -> AlgosConfig:
    """Build (not validate) our groups from the ``algorithm`` node; verl's own keys are left to verl."""
    if isinstance(algorithm, DictConfig):
        algorithm = OmegaConf.to_container(algorithm, resolve=True)
    algorithm = dict(algorithm or {})
    return AlgosConfig.from_mapping(
        {key: value for key, value in algorithm.items() if key in OUR_ALGORITHM_KEYS}
    )
