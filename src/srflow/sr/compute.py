"""The public entry points: one SR spec, one spec without raising, a whole ``sr`` block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow.config import SRSpec, sr_spec
from srflow.errors import ModelError
from srflow.sr.frame import prepare_frame
from srflow.sr.multilevel import fit_multilevel
from srflow.sr.ols_level import fit_ols_level
from srflow.sr.result import SRResult, assemble_table, empty_sr_table, line_header
from srflow.sr.units import build_units
from srflow.tables import jsonable

#: The name a spec given as a plain mapping without a name gets.
DEFAULT_NAME = "sr"


def as_spec(spec: SRSpec | Mapping[str, Any], name: str | None = None) -> SRSpec:
    """The :class:`~srflow.config.SRSpec` of ``spec``, renamed to ``name`` if one is given.

    A mapping is checked and completed by :func:`srflow.config.sr_spec` (a ConfigError names
    the bad key).
    """
    if isinstance(spec, SRSpec):
        return spec if name is None or name == spec.name else spec.renamed(name)
    return sr_spec(DEFAULT_NAME if name is None else name, spec)


def compute_sr(
    scores: pd.DataFrame, spec: SRSpec | Mapping[str, Any], name: str | None = None
) -> SRResult:
    """Compute the SR scores of one spec.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table: ``participant_id``, ``wave``, the outcome and exposure columns
        (default ``P`` and ``E``) and any column the reference names.
    spec : SRSpec or Mapping
        One SR spec: an :class:`~srflow.config.SRSpec`, or a mapping with the keys of an
        entry of the config's ``sr`` block (defaults filled from the config schema).
    name : str, optional
        The spec's name (default: the SRSpec's name, or ``"sr"`` for a mapping).

    Returns
    -------
    SRResult
        ``status`` is ``"ok"``.

    Raises
    ------
    ConfigError
        The spec itself is invalid.
    InputError
        The scores table lacks ``participant_id``/``wave`` or repeats a (participant, wave).
    ModelError
        The spec cannot be computed on these data (no exposure values, E constant in a
        line, fewer than 3 units in a line, a missing column, ...). Use
        :func:`safe_compute_sr` to turn this into a failed result instead.

    Examples
    --------
    Three people on the line ``P = 1 + 2 E`` and one 3 points above it. The line is fitted
    to all four (by hand: slope ``Sxy / Sxx = 14.5 / 5 = 2.9``, intercept
    ``4.75 - 2.9 * 1.5 = 0.4``), so it moves towards that person, whose SR is 0.9:

    >>> import pandas as pd
    >>> scores = pd.DataFrame({"participant_id": ["a", "b", "c", "d"], "wave": 1,
    ...                        "E": [0.0, 1.0, 2.0, 3.0], "P": [1.0, 3.0, 5.0, 10.0]})
    >>> result = compute_sr(scores, {"level": "period"}, "person")
    >>> result.status, result.line["form_used"]
    ('ok', 'linear')
    >>> [round(v, 2) for v in result.table["sr"]]
    [0.6, -0.3, -1.2, 0.9]
    >>> slope = result.line["lines"][0]["coefficients"][1]
    >>> slope["term"], round(slope["estimate"], 2)
    ('E', 2.9)
    """
    spec = as_spec(spec, name)
    frame = prepare_frame(scores, spec)
    units = build_units(frame, spec)
    if spec.level == "multilevel":
        fitted, line = fit_multilevel(units, spec)
    else:
        fitted, line = fit_ols_level(units, spec)
    expected = units.offset + fitted
    sr = units.P - expected
    table = assemble_table(units, expected, sr, spec.level, spec.standardize)
    header = line_header(spec)
    header.update(line)
    header["n"]["scored"] = int(len(table))
    return SRResult(name=spec.name, table=table, line=jsonable(header), status="ok", reason=None)


def safe_compute_sr(
    scores: pd.DataFrame, spec: SRSpec | Mapping[str, Any], name: str | None = None
) -> SRResult:
    """Like :func:`compute_sr`, but a spec that cannot be computed gives a failed result.

    A :class:`~srflow.errors.ModelError` (E constant, too few units in a wave or window,
    no exposure values, ...) becomes ``status="failed"`` with the message as ``reason``
    and an empty table with the header, so the other specs still run. Configuration and
    input errors still raise.

    Parameters
    ----------
    scores, spec, name
        As for :func:`compute_sr`.

    Returns
    -------
    SRResult

    Examples
    --------
    >>> import pandas as pd
    >>> scores = pd.DataFrame({"participant_id": ["a", "b"], "wave": 1, "E": [0.0, 1.0],
    ...                        "P": [1.0, 3.0]})
    >>> result = safe_compute_sr(scores, {"level": "period"}, "person")
    >>> result.status, len(result.table)
    ('failed', 0)
    >>> print(result.reason[:52])
    SR spec 'person': fewer than 3 reference units to fi
    """
    spec = as_spec(spec, name)
    try:
        return compute_sr(scores, spec)
    except ModelError as exc:
        reason = str(exc)
        if f"'{spec.name}'" not in reason:
            reason = f"SR spec '{spec.name}': {reason}"
        line = line_header(spec)
        line.update(status="failed", reason=reason)
        return SRResult(
            name=spec.name,
            table=empty_sr_table(spec.level),
            line=jsonable(line),
            status="failed",
            reason=reason,
        )


def compute_all_sr(
    scores: pd.DataFrame, specs: Mapping[str, SRSpec | Mapping[str, Any]]
) -> dict[str, SRResult]:
    """Run :func:`safe_compute_sr` for every spec of a config's ``sr`` block.

    Parameters
    ----------
    scores : pandas.DataFrame
        The scores table.
    specs : Mapping
        Spec name -> spec (SRSpec or mapping).

    Returns
    -------
    dict
        Spec name -> :class:`SRResult`, in the order of ``specs``.
    """
    return {name: safe_compute_sr(scores, spec, name) for name, spec in specs.items()}
