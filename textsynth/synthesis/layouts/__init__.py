"""Layout templates: where the text of a sample goes. ``TEMPLATES`` maps the names used in
``layout.template_probs`` to functions that fill a :class:`~.common.Page`.

- ``blocks`` (:mod:`.blocks`): free-floating blocks of lines, sparse; the default.
- ``dense``, ``columns``, ``heading``, ``lists`` (:mod:`.documents`): running text.
- ``table``, ``form``, ``slide``, ``caption`` (:mod:`.structured`): cells, fields, labels.
- ``vertical`` (:mod:`.vertical`): Chinese in columns, top to bottom, right to left.
"""

from textsynth.synthesis.layouts import blocks, documents, structured, vertical

TEMPLATES = {
    "blocks": blocks.place,
    "dense": documents.dense,
    "columns": documents.columns,
    "heading": documents.heading,
    "lists": documents.lists,
    "table": structured.table,
    "form": structured.form,
    "slide": structured.slide,
    "caption": structured.caption,
    "vertical": vertical.vertical,
}
