"""Stage of rule ``bootstrap_trajectories``: one bootstrap likelihood-ratio replicate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from srflow.stages._common import job_seed, say
from srflow.stages._trajectories import _read_series, model_settings, spec_seed
from srflow.tables import write_json


def trajectory_bootstrap_stage(
    spec: Mapping[str, Any],
    config_seed: int,
    cohort_name: str,
    spec_name: str,
    n_classes: int,
    replicate: int,
    series_in: str,
    replicate_out: str,
) -> None:
    """One parametric-bootstrap replicate of the LR test of K - 1 against K classes.

    The replicate simulates from the K - 1 class model the grid fitted (same data, same seed)
    and fits K - 1 and K classes to the simulated data, with the seed
    ``job_seed(config_seed, cohort, spec, "K<k>", "rep<r>")``. A replicate that cannot be
    fitted is recorded as failed, not raised.

    Parameters
    ----------
    spec, config_seed, cohort_name, spec_name, n_classes, series_in
        As in :func:`trajectory_fit_stage`; K >= 2.
    replicate : int
        Replicate index (0, 1, ...).
    replicate_out : str
        JSON: ``K, replicate, seed, status ("ok", "excluded": the fits are not certified
        optima even after refitting K from the K - 1 optimum, or "failed"), reason, lr,
        loglik_null, loglik_alt, loglik_null_observed, refitted``.
    """
    from srflow import trajectories
    from srflow.errors import ModelError

    series, time, outcome = _read_series(series_in, spec)
    seed = job_seed(config_seed, cohort_name, spec_name, f"K{n_classes}", f"rep{replicate}")
    null_seed = trajectories.model_seed(
        spec_seed(config_seed, cohort_name, spec_name), n_classes - 1
    )
    record: dict[str, Any] = {
        "spec": spec_name,
        "K": n_classes,
        "replicate": replicate,
        "seed": seed,
        "status": "ok",
        "reason": None,
    }
    try:
        result = trajectories.bootstrap_lrt_replicate(
            series,
            n_classes,
            replicate,
            random_state=seed,
            participant="participant_id",
            time=time,
            outcome=outcome,
            null_seed=null_seed,
            **model_settings(spec),
        )
    except ModelError as error:
        record.update(
            status="failed", reason=f"bootstrap replicate {replicate} of K={n_classes}: {error}"
        )
        say(record["reason"])
    else:
        record.update(result)
        refit = " (K refitted from the K - 1 optimum)" if result["refitted"] else ""
        if result["status"] == "ok":
            say(f"K={n_classes} replicate {replicate}: LR {result['lr']:.4f}{refit}")
        else:
            record["reason"] = (
                f"bootstrap replicate {replicate} of K={n_classes} excluded: " + (result["reason"])
            )
            say(record["reason"])
    write_json(record, replicate_out)
