"""Writing a synthetic cohort, its truth and the messy variants to a folder."""

from __future__ import annotations

from pathlib import Path

from srflow.synthetic.dirty import dirty_table
from srflow.synthetic.formats import wide_layout, write_csv, write_dta, write_sav, write_xlsx
from srflow.synthetic.r_export import r_export
from srflow.synthetic.simulate import simulate_cohort


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
        ``cohort``, ``truth`` and, with ``messy``, ``wide``, ``sav``, ``dta``,
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
    paths = {"cohort": out / "cohort.csv", "truth": out / "truth.csv"}
    write_csv(data, paths["cohort"], index=False)
    write_csv(truth, paths["truth"], index=False, float_format="%.4f")
    if not messy:
        return paths

    messy_dir = out / "messy"
    messy_dir.mkdir(exist_ok=True)
    keep_ids = data["subject_id"].drop_duplicates().iloc[:messy_participants]
    subset = data.loc[data["subject_id"].isin(keep_ids)].reset_index(drop=True)
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
    dirty, faults = dirty_table(subset, seed)
    write_csv(dirty, paths["dirty"], index=True)
    write_csv(faults, paths["dirty_faults"], index=False)
    paths["r_export"].write_text(r_export(seed), encoding="utf-8", newline="\n")
    return paths
