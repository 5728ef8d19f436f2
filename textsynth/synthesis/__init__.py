"""The renderer: a seeded recipe (``recipe``) drawn from fonts, corpora and backgrounds
(``resources``), laid out by templates (``layouts``), rasterised with exact labels
(``render``), and the in-process API over it (``renderer``: ``Renderer``, ``torch_dataset``).
"""
