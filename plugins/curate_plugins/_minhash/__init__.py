"""Internals of the ``minhash_dedup`` stage: shingle hashing, LSH band keys, the persistent index and the
datatrove steps the stage is planned into."""
