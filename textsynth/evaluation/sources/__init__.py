"""Where bench candidates come from: each module turns one kind of input into
:class:`~textsynth.evaluation.sources.common.Candidate` crops (256x256, one character scaled to
about f_ref px) and counts what it skips, with a reason, in a :class:`~.common.Skips`.

- ``pdf``: a PDF's text layer (blocks from the text rects), rendered at the exact scale.
- ``curated``: curated doc shards (a crop's OCR lines).
- ``omnidocbench``: OmniDocBench page images with their layout annotations.
- ``page_images``: bare page images; blocks from PP-OCRv5's text lines.
"""
