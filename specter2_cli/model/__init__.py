"""SPECTER2 itself: where the files come from (Hub id or folder), loading, the forward pass."""
