"""Stage of rule ``select_trajectories``: selection, classes, curves and classification tables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from srflow import results
from srflow.stages._common import say
from srflow.stages._trajectories import _read_json


def trajectory_select_stage(
    spec: Mapping[str, Any],
    spec_name: str,
    fits_in: list[str],
    classes_in: list[str],
    selection_out: str,
    classes_out: str,
    curves_out: str,
    bootstrap_in: list[str] | None = None,
    anchors_in: str | None = None,
    classification_out: str | None = None,
) -> None:
    """Gather the per-K fits of a spec into the selection, classes (with labels) and curves tables.

    Parameters
    ----------
    spec : mapping
        The trajectory spec (labels thresholds, anchor).
    spec_name : str
        Its name (messages).
    fits_in, classes_in : list of str
        The per-K outputs of :func:`trajectory_fit_stage`.
    selection_out, classes_out, curves_out : str
        CSV outputs (see :func:`srflow.trajectories.gather.gather_selection`): with a
        bootstrap also ``blrt_lr, blrt_p, blrt_replicates`` (K - 1 against K; ``p = (1 +
        #{LR_b >= LR}) / (B + 1)`` over the replicates that could be fitted); anchored, also
        ``n_anchored, n_unanchored``.
    bootstrap_in : list of str, optional
        Replicate JSONs of :func:`trajectory_bootstrap_stage`.
    anchors_in : str, optional
        ``anchors.csv`` of an anchored spec.
    classification_out : str, optional
        CSV of the mean posteriors by assigned class per K
        (:func:`srflow.trajectories.gather.classification_table`).
    """
    from srflow.trajectories import gather

    records = [_read_json(path) for path in fits_in]
    replicates = [_read_json(path) for path in bootstrap_in or []]
    for r in sorted(replicates, key=lambda r: (r["K"], r["replicate"])):
        if r["status"] != "ok":
            say(f"{spec_name}: {r['reason']}")
    anchors = pd.read_csv(anchors_in, dtype={"participant_id": "str"}) if anchors_in else None
    selection = gather.gather_selection(spec, records, replicates, anchors)
    curves = gather.gather_curves(records)
    classes, curves = gather.gather_classes(spec, curves, [pd.read_parquet(p) for p in classes_in])
    results.SELECTION_TABLE.write(selection, selection_out)
    results.CLASSES_TABLE.write(classes, classes_out)
    results.CURVES_TABLE.write(curves, curves_out)
    if classification_out:
        results.CLASSIFICATION_TABLE.write(gather.classification_table(classes), classification_out)
