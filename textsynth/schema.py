"""Config schemas: every textsynth config declared once, as typed pydantic models.

Each config module (synthesis ``textsynth/config.py``, curation ``textsynth/curation/config.py``,
training ``textsynth/vae/config.py``, experiments ``textsynth/experiment/config.py``) declares
its keys as a :class:`Section` tree with :func:`setting` fields: the default, the type, the range
and the help text in one place. From that one declaration come

- the defaults the loaders merge a YAML file over (:func:`defaults`);
- validation of every key's type and range, NaN and infinities included
  (:func:`validate`; the message names the key, as it always has);
- the JSON Schema editors and ``textsynth config schema`` use (:func:`json_schema`);
- the config reference of the docs site (:func:`reference_rows`).

Configs stay plain dicts at run time: every job records its config as JSON, resumes compare
it, and Ray ships it to workers. The models check them; rules that relate several keys (a
weight table's known choices, a margin that must fit the canvas) stay in each module's
``_check``.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal, Union

import annotated_types as at
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from typing_extensions import Annotated

__all__ = ["ConfigError", "Section", "setting", "Range", "Weights", "defaults", "validate",
           "free_form_keys", "optional_keys", "json_schema", "reference_rows", "Literal"]


class ConfigError(ValueError):
    """A config that cannot run: the message names the key (or the file) at fault."""


class Section(BaseModel):
    """A mapping of config keys: unknown keys are errors, types are strict (YAML's ``"5"`` is
    not the number 5, ``1`` is not ``true``), NaN and infinities are refused."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False,
                              validate_default=False, use_attribute_docstrings=False)


def setting(default: Any, help: str, lo: float | None = None, hi: float | None = None, *,
        above: bool = False, below: bool = False) -> Any:
    """A config key: its default, its help text and, for numbers, the range ``[lo, hi]``
    (``above``/``below``: strictly above ``lo``/below ``hi``). A section's default is its
    class (``setting(Canvas, "...")``)."""
    bounds: dict[str, float] = {}
    if lo is not None:
        bounds["gt" if above else "ge"] = lo
    if hi is not None:
        bounds["lt" if below else "le"] = hi
    if isinstance(default, type) and issubclass(default, BaseModel):
        return Field(default_factory=default, description=help)
    return Field(default, description=help, **bounds)


def _ordered(strict: bool):
    def check(v: list) -> list:
        if v[0] > v[1] or (strict and v[0] == v[1]):
            raise ValueError(f"must be [min, max] with min {'<' if strict else '<='} max")
        return v
    return check


def Range(lo: float | None = None, hi: float | None = None, *, integer: bool = False,
         strict: bool = False) -> Any:
    """The type of a ``[min, max]`` key: two numbers in ``[lo, hi]``, min <= max (< when
    ``strict``)."""
    item = Annotated[int if integer else float, Field(ge=lo, le=hi)]
    return Annotated[list[item], Field(min_length=2, max_length=2), AfterValidator(_ordered(strict))]


# choice -> weight >= 0 (the module's _check knows the choices and wants a positive total)
Weights = dict[str, Annotated[float, Field(ge=0)]]


def defaults(model: type[Section]) -> dict:
    """The model's defaults as the plain dict the loaders merge files over."""
    return model().model_dump(mode="python")


# ------------------------------------------------------------------------------ validation

def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part != "[key]":
            out += f".{part}" if out else str(part)
    return out


def _unwrap(ann: Any) -> tuple[Any, list]:
    """``Annotated[T, meta...]`` and ``T | None`` -> ``(T, meta)``."""
    meta: list = []
    while True:
        origin = typing.get_origin(ann)
        if origin is Annotated:
            ann, *more = typing.get_args(ann)
            meta += more
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            if len(args) != 1:
                return ann, meta
            ann = args[0]
        else:
            return ann, meta


def _constraints(meta: list) -> list:
    """Annotated metadata flattened: a ``Field(ge=...)`` inside ``Annotated`` holds its own."""
    return [y for x in meta for y in getattr(x, "metadata", [x])]


def _bounds(meta: list) -> dict:
    """``{"ge"|"gt"|"le"|"lt": bound}`` of a value's annotated constraints."""
    return {name: getattr(x, name) for x in _constraints(meta)
            for name in ("ge", "gt", "le", "lt") if isinstance(x, getattr(at, name.capitalize()))}


def _at(model: type[BaseModel], loc: tuple) -> tuple[Any, list, type[BaseModel] | None]:
    """The annotation, its metadata and the enclosing section of the value at ``loc``."""
    ann: Any = model
    meta: list = []
    parent: type[BaseModel] | None = None
    for part in loc:
        ann, _ = _unwrap(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None, [], ann
            parent, ann, meta = ann, field.annotation, list(field.metadata)
            continue
        origin, args = typing.get_origin(ann), typing.get_args(ann)
        if part == "[key]":
            return str, [], parent
        if origin is list and args:
            ann, meta = args[0], []
        elif origin is dict and len(args) == 2:
            ann, meta = args[1], []
        else:
            return None, [], parent
    ann, more = _unwrap(ann)
    return ann, meta + more, parent


def _shown(choice: Any) -> str:
    """A choice as a message shows it: ``""`` stays visible."""
    return '""' if choice == "" else str(choice)


def _range(b: dict) -> str:
    lo = b.get("gt", b.get("ge"))
    hi = b.get("lt", b.get("le"))
    return (f"{'(' if 'gt' in b else '['}{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}{')' if 'lt' in b else ']'}")


_WORDS = {
    "int_type": "must be an integer", "int_from_float": "must be an integer",
    "float_type": "must be a number", "finite_number": "must be a finite number",
    "bool_type": "must be true/false", "string_type": "must be a string (quote it in YAML)",
    "list_type": "must be a list", "tuple_type": "must be a list", "dict_type": "must be a mapping",
    "model_type": "must be a mapping", "model_attributes_type": "must be a mapping",
}


def _message(model: type[BaseModel], err: dict) -> str:
    loc, kind, ctx, value = tuple(err["loc"]), err["type"], err.get("ctx") or {}, err.get("input")
    where = _dotted(loc)
    ann, meta, parent = _at(model, loc)
    if kind == "extra_forbidden":
        known = ", ".join(sorted(parent.model_fields)) if parent else ""
        return f"unknown config key '{where}' (known: {known})"
    if loc and loc[-1] == "[key]":
        return f"config key '{_dotted(loc[:-2])}': name {value!r} must be a string (quote it in YAML)"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        words = f"must be in {_range(_bounds(meta) or ctx)}"
    elif kind == "literal_error":
        options = [_shown(a) for a in typing.get_args(ann)] if typing.get_origin(ann) is Literal else [ctx.get("expected", "")]
        words = "must be " + (f"{', '.join(options[:-1])} or {options[-1]}" if len(options) > 1 else options[0])
    elif kind in ("too_short", "too_long"):
        n, m = _lengths(meta)
        words = ("must be [min, max]" if (n, m) == (2, 2) and _is_range(meta) else
                 f"must hold at least {n} item{'s' * (n != 1)}" if m is None else
                 f"must hold {n} items" if n == m else f"must hold {n} to {m} items")
    elif kind == "value_error":
        words = str(ctx.get("error", err["msg"]))
    elif kind in ("int_type", "float_type") and isinstance(value, float) and not math.isfinite(value):
        words = "must be a finite number"
    else:
        words = _WORDS.get(kind, err["msg"].lower())
    return f"config key '{where}' {words}, got {value!r}"


def _lengths(meta: list) -> tuple[int, int | None]:
    """A list's (min, max) length from its constraints (max None: unbounded)."""
    n, m = 0, None
    for x in _constraints(meta):
        n = x.min_length if isinstance(x, at.MinLen) else n
        m = x.max_length if isinstance(x, at.MaxLen) else m
    return n, m


def _is_range(meta: list) -> bool:
    """A :func:`Range` (ordered min, max), not any list of two."""
    return any(isinstance(x, AfterValidator) for x in meta)


def validate(model: type[Section], cfg: dict) -> None:
    """Check ``cfg`` against ``model``; a :class:`ConfigError` names the first bad key."""
    try:
        model.model_validate(cfg, strict=True)
    except ValidationError as e:
        raise ConfigError(_message(model, e.errors(include_url=False)[0])) from None


# --------------------------------------------------------------------------- what it gives

def _walk(model: type[BaseModel], prefix: str = ""):
    """``(dotted key, FieldInfo, annotation)`` for every field, sections first-order."""
    for name, field in model.model_fields.items():
        ann, _ = _unwrap(field.annotation)
        yield prefix + name, field, ann
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _walk(ann, prefix + name + ".")


def free_form_keys(model: type[Section]) -> set[str]:
    """Keys whose value is a mapping of the user's own names (languages, buckets, files): a
    file replaces it whole rather than merging into the default."""
    return {k for k, _, ann in _walk(model) if typing.get_origin(ann) is dict or ann is dict}


def optional_keys(model: type[Section]) -> set[str]:
    """Mappings that may be null (unset), so ``--set KEY=null`` undoes a file's value."""
    out = set()
    for k, field, ann in _walk(model):
        origin = typing.get_origin(field.annotation)
        if origin in (Union, types.UnionType) and type(None) in typing.get_args(field.annotation) \
                and (typing.get_origin(ann) is dict or ann is dict):
            out.add(k)
    return out


def json_schema(model: type[Section]) -> dict:
    """The model's JSON Schema (draft 2020-12), for editors and ``textsynth config schema``."""
    return model.model_json_schema()


def _type_name(ann: Any, meta: list = ()) -> str:
    ann, more = _unwrap(ann)
    meta = [*meta, *more]
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is Literal:
        return " | ".join(_shown(a) for a in args)
    if origin is list:
        item = _type_name(args[0]) if args else "any"
        n, m = _lengths(meta)
        if (n, m) == (2, 2) and _is_range(meta):
            return f"[min, max] of {item}"
        if (n, m) == (0, None):
            return f"list of {item}"
        return f"list of {n}+ {item}" if m is None else f"list of {n}{f' to {m}' if m != n else ''} {item}"
    if origin is dict:
        return f"mapping of {_type_name(args[1])}" if len(args) == 2 and args[1] is not Any else "mapping"
    return {int: "integer", float: "number", bool: "true/false", str: "string", dict: "mapping",
            list: "list"}.get(ann, getattr(ann, "__name__", str(ann)))


def _item_bounds(ann: Any) -> dict:
    """The bounds of a list's items or a mapping's values (nested: a mapping of pairs)."""
    ann, _ = _unwrap(ann)
    args = typing.get_args(ann)
    if typing.get_origin(ann) not in (list, dict) or not args:
        return {}
    item, meta = _unwrap(args[-1])
    return _bounds(meta) or _item_bounds(item)


def reference_rows(model: type[Section]) -> list[tuple[str, str, Any, str, str]]:
    """``(key, type, default, range, help)`` for every leaf key, in declaration order."""
    rows = []
    for k, field, ann in _walk(model):
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            continue
        b = _bounds(list(field.metadata)) or _item_bounds(field.annotation)
        rows.append((k, _type_name(field.annotation, list(field.metadata)),
                     field.get_default(call_default_factory=True), _range(b) if b else "",
                     field.description or ""))
    return rows
