"""Real-document curation: ingest pages, cut crops, filter by clarity and OCR density, dedup.

Modules by role: ``config`` (defaults and checks), ``ingest`` (inputs -> pages -> crops),
``clarity`` (blur and compression scores), ``dedup`` (content hash, character n-grams,
perceptual hash), ``cascade`` (one input partition through the filters), ``job`` (the Ray
driver: resume by partition, cross-partition dedup, shards, rejects, stats).
"""
