"""`specter2 bench`: the tool against the model card's loop and the best plain recipe."""

from .config import BenchConfig, CaseResult
from .corpus import generated_vocab, read_corpus, token_lengths, word_pool, write_synthetic_corpus
from .run import format_report, run_bench

__all__ = [
    "BenchConfig",
    "CaseResult",
    "format_report",
    "generated_vocab",
    "read_corpus",
    "run_bench",
    "token_lengths",
    "word_pool",
    "write_synthetic_corpus",
]
