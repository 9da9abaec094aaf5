"""Stored engine curves: where ``bench engine`` keeps a measured curve and how the cost model gets it.

A curve lives at ``~/.cache/forkjoin/curves/<model>.json`` (``FORKJOIN_CURVES``
overrides the directory; ``/`` and other unsafe characters in the model name
become ``_``) with the shape::

    {"model": str, "streams": {"1": tok_s, "2": tok_s, ...},
     "prefill_tok_s": float | null, "measured_at": iso, "machine": str,
     "token_ratios": {category: {"serial": r, "parallel": r, "prompts": n}},
     "lists_speedup": {"factor": r, "prompts": n, "built_in": false} | null}

``bench engine`` writes the speeds, ``eval run --calibrate`` the token
ratios (how much this model writes against the compiler's estimates) and
lists mode's measured / predicted speedup; each keeps what the other wrote.

A model without a stored curve gets :data:`graphs.cost.DEFAULT_CURVE`; a
stored file that is not such an object is a :class:`CurveError` (one line),
never a silent fallback.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pydantic import ValidationError

from graphs.cost import DEFAULT_CURVE, EngineCurve
from graphs.errors import ForkjoinError

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FIELDS = ("model", "streams", "prefill_tok_s", "request_overhead_s", "measured_at", "machine", "token_ratios",
           "lists_speedup")


class CurveError(ForkjoinError):
    """A stored engine curve cannot be read. Caused by a damaged or hand-edited file; not recoverable."""


def curves_dir() -> Path:
    """The directory stored curves live in."""
    return Path(os.environ.get("FORKJOIN_CURVES") or Path.home() / ".cache" / "forkjoin" / "curves")


def curve_path(model: str, directory: Path | None = None) -> Path:
    """Where the curve of ``model`` is stored."""
    name = _UNSAFE.sub("_", model.strip("/")) or "default"
    return (directory or curves_dir()) / f"{name}.json"


def load_curve(model: str | None, directory: Path | None = None) -> EngineCurve:
    """The stored curve of ``model``, or the built-in default when none is stored (or ``model`` is None)."""
    if not model:
        return DEFAULT_CURVE
    path = curve_path(model, directory)
    if not path.is_file():
        return DEFAULT_CURVE
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CurveError(f"{path}: not a JSON engine curve ({exc})") from exc
    if not isinstance(body, dict):
        raise CurveError(f"{path}: an engine curve must be a JSON object")
    try:
        return EngineCurve.model_validate({k: body[k] for k in _FIELDS if k in body})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "curve"
        raise CurveError(f"{path}: {where}: {err['msg']}") from exc


def write_curve(curve: EngineCurve, directory: Path | None = None) -> Path:
    """Store ``curve`` where :func:`load_curve` finds it for ``curve.model``; returns the path.

    A curve without token ratios keeps the ones already stored (a new speed measurement does not
    forget what the model writes).
    """
    path = curve_path(curve.model, directory)
    if path.is_file() and (not curve.token_ratios or curve.lists_speedup is None):
        stored = load_curve(curve.model, directory)
        curve = curve.model_copy(update={"token_ratios": curve.token_ratios or stored.token_ratios,
                                         "lists_speedup": curve.lists_speedup or stored.lists_speedup})
    path.parent.mkdir(parents=True, exist_ok=True)
    body = curve.model_dump(mode="json")
    body["streams"] = {str(n): rate for n, rate in curve.streams.items()}
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
