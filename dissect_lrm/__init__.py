"""dissect-lrm: reproduce and extend "Dissecting Long Reasoning Models" (Mu et al., 2025) on verl 0.9.1."""

__version__ = "0.1.0"
