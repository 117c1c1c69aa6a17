"""dissect-lrm: GRPO training and multi-run evaluation of long-reasoning LLMs on verl 0.9.1."""

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def read_requirements(name: str) -> list[str]:
    lines = (HERE / name).read_text().splitlines()
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip()]


setup(
    name="dissect-lrm",
    version="0.1.0",
    description="Reproduce and extend 'Dissecting Long Reasoning Models' (Mu et al., 2025) on verl 0.9.1",
    long_description=(HERE / "README.md").read_text() if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    packages=find_packages(include=["dissect_lrm", "dissect_lrm.*"]),
    package_data={"dissect_lrm": ["trainer/config/*.yaml", "trainer/config/*/*.yaml"]},
    install_requires=read_requirements("requirements.txt"),
    extras_require={
        # verl 0.9.1's tested GPU stack (its `vllm` extra): CUDA torch 2.11.0 + vLLM 0.24.0.
        # flash-attn ships only as an sdist that compiles against CUDA torch; install it on GPU hosts.
        "gpu": ["torch==2.11.0", "vllm==0.24.0", "transformers==5.9.0", "flash-attn==2.8.3"],
        "math-verify": ["math-verify==0.9.0"],
        "dev": read_requirements("requirements-dev.txt"),
    },
    entry_points={"console_scripts": ["dissect-lrm=dissect_lrm.cli:main"]},
)
