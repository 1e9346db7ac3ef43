"""Gather per-K trajectory fits into the selection, classes and curves tables of a spec.

The workflow fits each K in its own job and records the fit as a JSON record (``spec, K,
status, reason`` and for a fit its selection row and curves as ``orient="split"`` tables) and
the per-participant posteriors as a table; bootstrap replicates are records too. These
functions turn those records into the tables one spec's selection step writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from srflow.trajectories.bootstrap import bootstrap_lrt_pvalue
from srflow.trajectories.labels import label_classes

__all__ = [
    "CURVE_COLUMNS",
    "bootstrap_columns",
    "class_labels",
    "classification_table",
    "gather_classes",
    "gather_curves",
    "gather_selection",
]

CURVE_COLUMNS = [
    *("K", "class", "time", "fitted", "se", "ci_low", "ci_high", "se_status"),
    *("observed_mean", "observed_sd", "n_observed"),
]


def _frame(split: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(split["data"], columns=split["columns"])


def bootstrap_columns(
    selection: pd.DataFrame, replicates: Sequence[Mapping[str, Any]], k_values: Iterable[int]
) -> pd.DataFrame:
    """blrt_lr, blrt_p and the replicates used, excluded (or failed) and refitted-and-used per K.

    K - 1 against K, from the replicate records; only replicates with status "ok" enter p.
    """
    ok = selection["status"] != "failed"
    if "loglik" in selection.columns:
        fitted = selection.loc[ok, ["K", "loglik"]]
    else:
        fitted = selection.loc[[], ["K"]].assign(loglik=0.0)
    loglik = dict(zip(fitted["K"].astype(int), fitted["loglik"].astype(float), strict=True))
    rows = []
    for k in k_values:
        done = [r for r in replicates if r["K"] == k and r["status"] == "ok"]
        left_out = sum(r["K"] == k and r["status"] != "ok" for r in replicates)  # excluded, failed
        row = {
            "K": k,
            "blrt_lr": np.nan,
            "blrt_p": np.nan,
            "blrt_replicates": len(done) if k >= 2 else pd.NA,
            "blrt_excluded_replicates": left_out if k >= 2 else pd.NA,
            "blrt_refitted_replicates": sum(bool(r.get("refitted")) for r in done)
            if k >= 2
            else pd.NA,
        }
        null = loglik.get(k - 1, done[0]["loglik_null_observed"] if done else None)
        if k >= 2 and done and k in loglik and null is not None:
            test = bootstrap_lrt_pvalue(null, loglik[k], done)
            row.update(blrt_lr=test["lr_observed"], blrt_p=test["p_value"])
        rows.append(row)
    table = pd.DataFrame(rows)
    for name in ("blrt_replicates", "blrt_excluded_replicates", "blrt_refitted_replicates"):
        table[name] = table[name].astype("Int64")
    return table


def gather_selection(
    spec: Mapping[str, Any],
    records: Sequence[Mapping[str, Any]],
    replicates: Sequence[Mapping[str, Any]] | None = None,
    anchors: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The selection table of a spec from its per-K fit records.

    Parameters
    ----------
    spec : mapping
        The trajectory spec (``method``, ``degree``).
    records : sequence of mapping
        Fit records, any order.
    replicates : sequence of mapping, optional
        Bootstrap replicate records; adds ``blrt_lr, blrt_p, blrt_replicates``.
    anchors : pandas.DataFrame, optional
        ``anchors.csv`` of an anchored spec; adds ``n_anchored, n_unanchored``.

    Returns
    -------
    pandas.DataFrame
        One row per K, the fit indices first and ``status`` (``ok``, ``suspect`` or
        ``failed``) and ``error`` (why it failed) last; ``certification`` says why a fit is
        suspect (its log-likelihood below that of a model nested in it: K - 1 classes, or
        shared variances), empty otherwise.
    """
    records = sorted(records, key=lambda r: r["K"])
    fitted = [r for r in records if r["status"] == "ok"]
    failed = [
        {
            "method": spec["method"],
            "degree": spec["degree"],
            "K": r["K"],
            "status": "failed",
            "error": r["reason"],
        }
        for r in records
        if r["status"] != "ok"
    ]
    parts = [_frame(r["selection"]).assign(status="ok") for r in fitted]
    selection = pd.concat(parts + ([pd.DataFrame(failed)] if failed else []), ignore_index=True)
    selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
    if "error" not in selection.columns:
        selection["error"] = ""
    selection["error"] = selection["error"].fillna("").astype("str")
    selection = _selection_notes(_mark_suspect(selection))
    if replicates:
        replicates = sorted(replicates, key=lambda r: (r["K"], r["replicate"]))
        blrt = bootstrap_columns(selection, replicates, selection["K"].astype(int).tolist())
        selection = selection.merge(blrt, on="K", how="left", sort=False)
    if anchors is not None:
        anchored = int(anchors["anchored"].astype(bool).sum())
        selection["n_anchored"] = anchored
        selection["n_unanchored"] = int(len(anchors) - anchored)
    # status and error last, so the fit indices come first whatever failed
    last = ("status", "error")
    return selection[[c for c in selection.columns if c not in last] + list(last)]


def _mark_suspect(selection: pd.DataFrame) -> pd.DataFrame:
    """Status ``suspect`` for fits whose certification failed or that lie below the K - 1 fit."""
    if "loglik" not in selection.columns:
        return selection
    if "certification" not in selection.columns:
        selection["certification"] = ""
    notes = selection["certification"].fillna("").astype("str").tolist()
    ok = (selection["status"] == "ok").to_numpy()
    loglik = selection["loglik"].to_numpy(dtype=float)
    ks = selection["K"].astype(int).tolist()
    for i in range(1, len(ks)):  # loop over K
        j = ks.index(ks[i] - 1) if ks[i] - 1 in ks else None
        tol = max(1e-6, 1e-9 * abs(loglik[j])) if j is not None else 0.0
        if j is not None and ok[i] and ok[j] and loglik[i] < loglik[j] - tol and not notes[i]:
            notes[i] = (
                f"log-likelihood {loglik[i]:.4f} is below K - 1's {loglik[j]:.4f}; "
                "a local optimum: raise starts"
            )
    selection["certification"] = notes
    suspect = ok & (selection["certification"] != "").to_numpy()
    selection.loc[suspect, "status"] = "suspect"
    return selection


#: a class this small is worth a note (Nylund-Gibson and Choi 2018 use 5%; 25 participants)
SMALL_CLASS_SHARE = 0.05
SMALL_CLASS_SIZE = 25
#: BIC differences up to this are not evidence either way (Raftery 1995)
BIC_NEAR = 2.0


def _selection_notes(selection: pd.DataFrame) -> pd.DataFrame:
    """``bic_near``: the other K whose BIC is within 2; ``small_classes``: classes < 5% or < 25."""
    if "bic" not in selection.columns or "class_sizes" not in selection.columns:
        return selection
    fitted = selection["status"] != "failed"
    bic = selection["bic"].to_numpy(dtype=float)
    ks = selection["K"].astype(int).to_numpy()
    near, small = [], []
    for i in range(len(selection)):  # loop over K
        close = fitted.to_numpy() & (np.abs(bic - bic[i]) <= BIC_NEAR) & (ks != ks[i])
        near.append(";".join(map(str, ks[close])) if fitted.iloc[i] and np.isfinite(bic[i]) else "")
        sizes = str(selection["class_sizes"].iloc[i]) if fitted.iloc[i] else ""
        counts = [int(c) for c in sizes.split("/")] if sizes and sizes != "nan" else []
        total = sum(counts)
        small.append(
            "; ".join(
                f"class {c} has {n} participants ({100 * n / total:.1f}%)"
                for c, n in enumerate(counts, start=1)
                if n < SMALL_CLASS_SIZE or n < SMALL_CLASS_SHARE * total
            )
        )
    return selection.assign(bic_near=near, small_classes=small)


def gather_curves(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """The curves table (all fitted K) from the fit records."""
    fitted = [r for r in sorted(records, key=lambda r: r["K"]) if r["status"] == "ok"]
    if not fitted:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in CURVE_COLUMNS})
    return pd.concat([_frame(r["curves"]) for r in fitted], ignore_index=True)


def _empty_classes() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": pd.Series(dtype="str"),
            "K": pd.Series(dtype="int64"),
            "class": pd.Series(dtype="int64"),
        }
    )


def class_labels(spec: Mapping[str, Any], curves: pd.DataFrame) -> pd.DataFrame:
    """``K, class, label`` of every class curve, with the spec's label thresholds.

    Each K is labelled from its own curves, so one fit's labels (stored in its record) are
    those ``classes.csv`` gives it. An anchored spec is labelled from time >= 0 (see
    :func:`gather_classes`).
    """
    thresholds = {
        key: value for key, value in (spec.get("labels") or {}).items() if value is not None
    }
    course = curves
    if spec.get("anchor"):
        course = curves[curves["time"] >= 0] if (curves["time"] >= 0).any() else curves
    kind = "sr" if str(spec.get("variable", "")).startswith("sr:") else "symptoms"
    return label_classes(course, thresholds, kind=kind)[["K", "class", "label"]]


def gather_classes(
    spec: Mapping[str, Any], curves: pd.DataFrame, class_frames: Sequence[pd.DataFrame]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Classes (with labels) and curves (with labels) from the per-K posterior tables.

    For an anchored spec the labels are given from the class curves at and after the anchor
    (time >= 0): the prototypes describe the course from the event on, and the pre-event
    waves are the baseline.

    Returns
    -------
    classes : pandas.DataFrame
        ``participant_id, K, class, label, post_1 .. post_Kmax``, sorted by K and participant.
    curves : pandas.DataFrame
        ``curves`` with a ``label`` column.
    """
    frames = [frame for frame in class_frames if len(frame)]
    classes = pd.concat(frames, ignore_index=True) if frames else _empty_classes()
    if len(curves):
        labels = class_labels(spec, curves)
        classes = classes.merge(labels, on=["K", "class"], how="left", sort=False)
        curves = curves.merge(labels, on=["K", "class"], how="left", sort=False)
    else:
        classes["label"] = pd.Series(dtype="str")
        curves["label"] = pd.Series(dtype="str")
    posterior = sorted(
        (c for c in classes.columns if c.startswith("post_")), key=lambda c: int(c.split("_")[1])
    )
    classes = classes[["participant_id", "K", "class", "label", *posterior]]
    return classes.sort_values(["K", "participant_id"], kind="stable"), curves


def classification_table(classes: pd.DataFrame) -> pd.DataFrame:
    """Mean posterior probabilities by assigned (modal) class, per K.

    Row ``(K, assigned_class)`` holds the number of participants assigned to that class and
    the mean of their posteriors for every class: the diagonal is the average posterior
    probability of correct assignment, the off-diagonal the classification uncertainty
    (a K x K matrix per K).

    Parameters
    ----------
    classes : pandas.DataFrame
        ``participant_id, K, class, label, post_1 .. post_Kmax``.

    Returns
    -------
    pandas.DataFrame
        ``K, assigned_class, label, n, mean_post_1 .. mean_post_Kmax``.
    """
    posterior = [c for c in classes.columns if c.startswith("post_")]
    if classes.empty:
        return pd.DataFrame(
            {
                c: pd.Series(dtype="float64")
                for c in ["K", "assigned_class", "label", "n", *("mean_" + p for p in posterior)]
            }
        )
    grouped = classes.groupby(["K", "class"], sort=True)
    table = grouped[posterior].mean().add_prefix("mean_")
    table.insert(0, "n", grouped.size())
    table.insert(0, "label", grouped["label"].first())
    return table.reset_index().rename(columns={"class": "assigned_class"})
