"""What lands on disk: durable writes, shard files, the OUTDIR's state (manifests,
generations, locks, rejects) and the 64-bit id keys that tie runs together."""
