"""Stressor lock: align participants on the onset of a major stressor.

The anchor of a participant is the first wave at which the stressor column
reaches ``threshold`` *and* the participant's previous assessed wave (the
previous row with the stressor observed) was below it.  A participant who is
already at or above the threshold at their first assessment is anchored only
at a later below-to-above transition; participants without such a transition
get no anchor (counted in the result).

Windows are counted in waves from the anchor (``waves_from_anchor``):

* ``pre``:  ``-pre .. -1``
* ``peri``: ``0 .. peri - 1`` (the anchor wave when ``peri = 1``)
* ``post``: ``peri .. peri + post - 1``

Rows outside every window, and rows of unanchored participants, get a
missing window label.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from srflow.errors import ConfigError, InputError

__all__ = ["AnchorResult", "anchor_on_event"]


@dataclass(frozen=True)
class AnchorResult:
    """Output of :func:`anchor_on_event`.

    Attributes
    ----------
    data : pandas.DataFrame
        Input rows (sorted by participant and wave) with ``anchor_wave``,
        ``waves_from_anchor``, ``time_from_anchor`` and ``window`` added.
    anchors : pandas.DataFrame
        One row per anchored participant: participant, ``anchor_wave``
        (and ``anchor_time`` when a time column was given).
    n_participants, n_anchored, n_unanchored : int
        Counts of participants.
    """

    data: pd.DataFrame
    anchors: pd.DataFrame
    n_participants: int
    n_anchored: int
    n_unanchored: int


def anchor_on_event(
    data: pd.DataFrame,
    event_column: str,
    threshold: float,
    participant: str = "participant_id",
    wave: str = "wave",
    time: str | None = None,
    pre: int = 2,
    peri: int = 1,
    post: int = 2,
) -> AnchorResult:
    """Align each participant on their first below-to-above-threshold stressor wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table, one row per (participant, wave).
    event_column : str
        Stressor column (e.g. a life-event count or severity).
    threshold : float
        Value the stressor must reach (``>=``) at the anchor wave.
    participant, wave : str
        Column names; ``wave`` is an integer order of assessments.
    time : str or None
        Optional time column; then ``time_from_anchor`` is in its units,
        otherwise it equals ``waves_from_anchor``.
    pre, peri, post : int
        Window widths in waves (``pre``, ``post`` >= 0, ``peri`` >= 1).

    Returns
    -------
    AnchorResult

    Raises
    ------
    InputError
        A named column is missing.
    ConfigError
        Negative window widths.
    """
    needed = [participant, wave, event_column] + ([time] if time else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise InputError(f"anchoring needs column(s) {missing}; available: {list(data.columns)}.")
    if pre < 0 or post < 0 or peri < 1:
        raise ConfigError(
            f"anchoring windows need pre >= 0, peri >= 1, post >= 0; got pre={pre}, "
            f"peri={peri}, post={post}."
        )
    table = data.sort_values([participant, wave], kind="mergesort").reset_index(drop=True)
    stressor = pd.to_numeric(table[event_column]).to_numpy(dtype=float, na_value=np.nan)
    assessed = np.isfinite(stressor)
    rated = table.loc[assessed, [participant, wave]].copy()
    rated["reached"] = stressor[assessed] >= threshold
    below = ~rated["reached"]
    previous_below = below.groupby(rated[participant], sort=False).shift(1, fill_value=False)
    onsets = rated.loc[rated["reached"] & previous_below.astype(bool), [participant, wave]]
    anchors = onsets.groupby(participant, sort=True)[wave].min().rename("anchor_wave").reset_index()
    out = table.merge(anchors, on=participant, how="left", sort=False)
    waves_from = pd.to_numeric(out[wave]) - out["anchor_wave"]
    out["waves_from_anchor"] = waves_from.astype("Int64")
    if time:
        anchor_time = (
            out.loc[out[wave] == out["anchor_wave"], [participant, time]]
            .drop_duplicates(participant)
            .rename(columns={time: "anchor_time"})
        )
        out = out.merge(anchor_time, on=participant, how="left", sort=False)
        out["time_from_anchor"] = pd.to_numeric(out[time]) - out["anchor_time"]
        anchors = anchors.merge(anchor_time, on=participant, how="left")
        out = out.drop(columns="anchor_time")
    else:
        out["time_from_anchor"] = waves_from.astype(float)
    offset = out["waves_from_anchor"].to_numpy(dtype=float, na_value=np.nan)
    window = np.full(offset.shape[0], None, dtype=object)
    window[(offset >= -pre) & (offset <= -1)] = "pre"
    window[(offset >= 0) & (offset <= peri - 1)] = "peri"
    window[(offset >= peri) & (offset <= peri + post - 1)] = "post"
    out["window"] = pd.Series(window, index=out.index, dtype="str")
    n_participants = int(table[participant].nunique())
    n_anchored = int(anchors.shape[0])
    return AnchorResult(
        data=out,
        anchors=anchors,
        n_participants=n_participants,
        n_anchored=n_anchored,
        n_unanchored=n_participants - n_anchored,
    )
