"""Fetching and preparing third-party assets (fonts, corpora, photos, documents, models)."""
