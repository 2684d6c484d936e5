"""The file-to-shards pipeline: read -> validate -> tokenize/sort/pack -> encode -> write -> commit."""

from .job import EmbedJob
from .progress import Progress
from .runtime import SignalHandlers, StopFlag
from .summary import RunSummary

__all__ = ["EmbedJob", "Progress", "RunSummary", "SignalHandlers", "StopFlag"]
