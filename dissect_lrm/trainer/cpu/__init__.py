"""CPU support for verl's real trainer: a gloo platform and an "hf" rollout replica."""
