"""specter2_cli: SPECTER2 embeddings for millions of papers, from a workstation to a SLURM array."""

__version__ = "0.1.0"
