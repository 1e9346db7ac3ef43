"""Writing a synthetic cohort, its truth and the messy variants to a folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srflow.synthetic.dirty import dirty_table
from srflow.synthetic.formats import wide_layout, write_csv, write_dta, write_sav, write_xlsx
from srflow.synthetic.r_export import r_export
from srflow.synthetic.simulate import simulate_cohort
from srflow.synthetic.traits import TRAIT_LOADINGS, TRAIT_MEAN, TRAIT_SD, TRAITS, trait_effects


def write_cohort(
    out: str | Path,
    participants: int = 400,
    waves: int = 8,
    seed: int = 20261121,
    messy: bool = True,
    messy_participants: int = 60,
) -> dict[str, Path]:
    """Simulate a cohort and write it, its truth and (optionally) messy variants.

    Parameters
    ----------
    out : str or Path
        Output folder (created if needed; existing files are overwritten).
    participants, waves, seed : int
        Passed to :func:`simulate_cohort` (default settings otherwise).
    messy : bool, default True
        Also write the messy variants into ``out/messy/``.
    messy_participants : int, default 60
        The wide, SPSS, Stata, Excel, Parquet and dirty files hold the first
        this-many participants of the cohort (keeps the files small).

    Returns
    -------
    dict of str to Path
        ``cohort``, ``truth``, ``truth_effects`` (the traits' exact effects, see
        :func:`effects_document`) and, with ``messy``, ``wide``, ``sav``, ``dta``,
        ``xlsx``, ``parquet``, ``dirty``, ``dirty_faults``, ``r_export``.

    Notes
    -----
    Every file is byte-identical across runs with the same arguments: the SPSS
    header timestamp and the Excel document/zip timestamps are set to
    2021-01-01 00:00; the Stata timestamp is passed to the writer.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data, truth = simulate_cohort(participants, waves, seed)
    paths = {
        "cohort": out / "cohort.csv",
        "truth": out / "truth.csv",
        "truth_effects": out / "truth_effects.json",
    }
    write_csv(data, paths["cohort"], index=False)
    write_csv(truth, paths["truth"], index=False, float_format="%.4f")
    paths["truth_effects"].write_text(
        json.dumps(effects_document(), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
        newline="\n",
    )
    if not messy:
        return paths

    messy_dir = out / "messy"
    messy_dir.mkdir(exist_ok=True)
    keep_ids = data["subject_id"].drop_duplicates().iloc[:messy_participants]
    with_traits = data.loc[data["subject_id"].isin(keep_ids)].reset_index(drop=True)
    # The format variants test readers, not resilience factors: without the traits they stay
    # as they were. The dirty file keeps them, so the default config validates it as it is.
    subset = with_traits.drop(columns=list(TRAITS))
    paths.update(
        {
            "wide": messy_dir / "cohort_wide.csv",
            "sav": messy_dir / "cohort.sav",
            "dta": messy_dir / "cohort.dta",
            "xlsx": messy_dir / "cohort.xlsx",
            "parquet": messy_dir / "cohort.parquet",
            "dirty": messy_dir / "dirty.csv",
            "dirty_faults": messy_dir / "dirty_faults.csv",
            "r_export": messy_dir / "r_export.csv",
        }
    )
    write_csv(wide_layout(subset), paths["wide"], index=False)
    write_sav(subset, paths["sav"])
    write_dta(subset, paths["dta"])
    write_xlsx(subset, paths["xlsx"])
    subset.to_parquet(paths["parquet"], index=False, engine="pyarrow")
    dirty, faults = dirty_table(with_traits, seed)
    write_csv(dirty, paths["dirty"], index=True)
    write_csv(faults, paths["dirty_faults"], index=False)
    paths["r_export"].write_text(r_export(seed), encoding="utf-8", newline="\n")
    return paths


def effects_document() -> dict[str, Any]:
    """The content of ``truth_effects.json``: how the traits were made and their exact effects.

    Examples
    --------
    >>> doc = effects_document()
    >>> sorted(doc["effects"]), round(doc["effects_per_sd"]["reactivity"]["optimism"], 4)
    (['baseline', 'reactivity'], -0.124)
    """
    effects = trait_effects()
    return {
        "definition": (
            "effects[v][trait] = population coefficient of the trait in the linear regression of "
            "the latent person value v (reactivity = true E slope b_i, baseline = person offset "
            "baseline_i, GHQ-sum points) on all traits together, exact from the joint Gaussian; "
            "units of v per trait point; effects_per_sd = per SD (10 points) of the trait"
        ),
        "traits": {
            name: {
                "loading_reactivity": a,
                "loading_baseline": c,
                "mean": TRAIT_MEAN,
                "sd": TRAIT_SD,
            }
            for name, (a, c) in TRAIT_LOADINGS.items()
        },
        "effects": effects,
        "effects_per_sd": {
            value: {name: beta * TRAIT_SD for name, beta in by_trait.items()}
            for value, by_trait in effects.items()
        },
    }
