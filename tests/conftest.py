"""Shared fixtures: tiny random SPECTER2-shaped models in the Hub's on-disk layout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# No test may reach the network: the Hub client must fail fast if anything tries.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"base": dir, "proximity": dir, "adhoc_query": dir, ...}: random weights, seq_bn adapters."""
    from specter2_cli.synthetic import build_random_model

    return build_random_model(tmp_path_factory.mktemp("models"))
