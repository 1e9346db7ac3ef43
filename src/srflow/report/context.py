"""Turn a cohort's results into the report's sections (plain data for the template).

Every section builder is defensive: results written by other pipeline stages may lack
keys or columns, or carry ``status: failed``; the builder then shows what is there and
says what is missing, instead of failing the whole report. Nothing here ever puts a
participant id or a row-level table into the output, and every count is shown through
:func:`srflow.report.formatting.suppress_count`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from scipy import special

from srflow.errors import InputError
from srflow.report import figures as fg
from srflow.report import text as tx
from srflow.report.formatting import (
    DASH,
    format_number,
    format_p,
    format_share,
    humanize,
    is_count_name,
    is_suppressed,
    suppress_count,
)

# --------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------


@dataclass
class ReportInputs:
    """Everything the report shows, already loaded.

    Attributes
    ----------
    cohort
        Cohort name.
    cohort_config
        The cohort's :class:`srflow.config.CohortConfig` (shared blocks resolved).
    config_data
        The whole validated config mapping (``Config.data``), hashed for the footer.
    scores
        Scored table: participant_id, wave, time, P, E, instrument scores, covariates.
    ledger, failures
        Validation ledger and failure table (None if not available).
    sr
        spec -> {"table": DataFrame, "line": dict}; None when no SR results exist.
    mixed
        model -> {"fixed": DataFrame, "fit": dict, "random": DataFrame}; or None.
    trajectories
        name -> {"selection": DataFrame, "classes": DataFrame, "curves": DataFrame}; or None.
    provenance
        config_sha256, input_sha256, input_file, seed, packages (name -> version).
    """

    cohort: str
    cohort_config: Any
    config_data: Mapping[str, Any]
    scores: pd.DataFrame
    ledger: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    sr: Mapping[str, Mapping[str, Any]] | None = None
    mixed: Mapping[str, Mapping[str, Any]] | None = None
    trajectories: Mapping[str, Mapping[str, Any]] | None = None
    provenance: Mapping[str, Any] = field(default_factory=dict)


def _read_csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    frame = pd.read_csv(path, dtype={"participant_id": "str"}, keep_default_na=True)
    for column in ("reason", "flags", "status", "label", "message", "check", "column", "value"):
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype("str")
    return frame


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        return {"status": "failed", "reason": f"{path.name} is not valid JSON ({exc})"}


def _names(configured: Mapping[str, Any], found: list[str]) -> list[str]:
    """Configured names in config order, then any extra names found on disk, sorted."""
    names = list(configured)
    names += sorted(n for n in set(found) if n not in configured)
    return names


def load_report_inputs(
    results_dir: str | Path,
    cohort_config: Any,
    config_data: Mapping[str, Any],
    provenance: Mapping[str, Any] | None = None,
) -> ReportInputs:
    """Load a cohort's result files (listed under Outputs in README.md) into :class:`ReportInputs`.

    Parameters
    ----------
    results_dir
        ``results/{cohort}`` (or ``results``, in which case the cohort's folder is used).
    cohort_config
        The cohort's :class:`srflow.config.CohortConfig`.
    config_data
        The whole validated config mapping (``Config.data``).
    provenance
        Hashes, seed and package versions; see :func:`collect_provenance`. Missing keys are
        filled where they can be computed (config hash, seed).

    Returns
    -------
    ReportInputs

    Raises
    ------
    InputError
        If the scores table (the one required input) is missing.
    """
    base = Path(results_dir)
    if not any((base / f).is_file() for f in ("scores.parquet", "scores.csv")) and (base / cohort_config.name).is_dir():
        base = base / cohort_config.name
    if (base / "scores.parquet").is_file():
        scores = pd.read_parquet(base / "scores.parquet")
    elif (base / "scores.csv").is_file():
        scores = pd.read_csv(base / "scores.csv", dtype={"participant_id": "str"})
    else:
        raise InputError(
            f"no scores table in {base} (expected scores.parquet or scores.csv); run the scoring step first"
        )
    ledger = _read_csv(base / "validation" / "ledger.csv")
    failures = _read_csv(base / "validation" / "failures.csv")

    sr = None
    sr_dir = base / "sr"
    found = [p.name[: -len(".line.json")] for p in sr_dir.glob("*.line.json")] if sr_dir.is_dir() else []
    found += [p.stem for p in sr_dir.glob("*.csv")] if sr_dir.is_dir() else []
    if cohort_config.sr or found:
        sr = {
            name: {"table": _read_csv(sr_dir / f"{name}.csv"), "line": _read_json(sr_dir / f"{name}.line.json")}
            for name in _names(cohort_config.sr, found)
        }

    mixed = None
    mixed_dir = base / "mixed"
    found = [p.name[: -len(".fit.json")] for p in mixed_dir.glob("*.fit.json")] if mixed_dir.is_dir() else []
    if cohort_config.mixed_models or found:
        mixed = {
            name: {
                "fixed": _read_csv(mixed_dir / f"{name}.fixed.csv"),
                "fit": _read_json(mixed_dir / f"{name}.fit.json"),
                "random": _read_csv(mixed_dir / f"{name}.random.csv"),
            }
            for name in _names(cohort_config.mixed_models, found)
        }

    trajectories = None
    traj_dir = base / "trajectories"
    found = [p.name for p in traj_dir.iterdir() if p.is_dir()] if traj_dir.is_dir() else []
    if cohort_config.trajectories or found:
        trajectories = {
            name: {part: _read_csv(traj_dir / name / f"{part}.csv") for part in ("selection", "classes", "curves")}
            for name in _names(cohort_config.trajectories, found)
        }

    return ReportInputs(
        cohort=cohort_config.name,
        cohort_config=cohort_config,
        config_data=config_data,
        scores=scores,
        ledger=ledger,
        failures=failures,
        sr=sr,
        mixed=mixed,
        trajectories=trajectories,
        provenance=dict(provenance or {}),
    )


def config_sha256(config_data: Mapping[str, Any]) -> str:
    """SHA-256 of the config's canonical JSON text (sorted keys, no whitespace)."""
    from srflow.config import canonical_json

    return hashlib.sha256(canonical_json(config_data).encode("utf-8")).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


#: Packages whose versions the footer lists by default.
PROVENANCE_PACKAGES = ("srflow", "numpy", "pandas", "scipy", "statsmodels", "scikit-learn", "pandera",
                       "pyarrow", "matplotlib", "jinja2", "snakemake")


def collect_provenance(config_data: Mapping[str, Any], input_path: str | Path | None, seed: int | None = None) -> dict:
    """Provenance for the footer: config and input hashes, input file name, seed, versions.

    Parameters
    ----------
    config_data
        The validated config mapping.
    input_path
        The cohort's raw input file (hashed if it exists).
    seed
        The run's seed; defaults to ``config_data["seed"]``.
    """
    import platform
    from importlib import metadata

    packages = {"python": platform.python_version()}
    for name in PROVENANCE_PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    path = Path(input_path) if input_path is not None else None
    return {
        "config_sha256": config_sha256(config_data),
        "input_sha256": file_sha256(path) if path is not None and path.is_file() else None,
        "input_file": path.name if path is not None else None,
        "seed": seed if seed is not None else config_data.get("seed"),
        "packages": packages,
    }


# --------------------------------------------------------------------------------------
# Template data
# --------------------------------------------------------------------------------------


@dataclass
class Table:
    """A display table: every cell already formatted as text."""

    columns: list[str]
    rows: list[list[str]]
    caption: str = ""
    numeric: list[bool] | None = None
    row_classes: list[str] | None = None


@dataclass
class Section:
    """A top-level report section: an anchor, a title and a list of blocks."""

    id: str
    title: str
    blocks: list[dict] = field(default_factory=list)

    def add(self, kind: str, **content: Any) -> None:
        self.blocks.append({"kind": kind, **content})

    @property
    def subsections(self) -> list[dict]:
        return [b for b in self.blocks if b["kind"] == "h3"]


def _slug(text: str) -> str:
    keep = "".join(c.lower() if c.isalnum() else "-" for c in str(text))
    return "-".join(part for part in keep.split("-") if part) or "x"


def _finite(values: Any) -> np.ndarray:
    array = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)]


def _as_bool(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return None if (isinstance(value, float) and math.isnan(value)) else bool(value)
    text = str(value).strip().lower()
    if text in {"true", "yes", "1"}:
        return True
    if text in {"false", "no", "0"}:
        return False
    return None


def _bool_series(series: pd.Series) -> pd.Series:
    return pd.Series([_as_bool(v) is True for v in series], index=series.index, dtype=bool)


def _failed(result: Mapping[str, Any] | None) -> str | None:
    """The failure reason if a result dict says status 'failed', else None."""
    if isinstance(result, Mapping) and str(result.get("status", "")).lower() == "failed":
        return str(result.get("reason") or "no reason given")
    return None


def _scalar_items(entry: Mapping[str, Any], skip: set[str], depth: int = 3, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar values of a dict; nested dicts (up to ``depth`` levels) flattened as 'outer.inner'."""
    items: list[tuple[str, Any]] = []
    for key, value in entry.items():
        if key in skip and not prefix:
            continue
        path = f"{prefix}{key}"
        if str(key).endswith("note") or key in _ALWAYS_SKIP:
            continue  # explanatory notes and echoed settings: the report says these in its own words
        if isinstance(value, Mapping):
            if depth > 1:
                items += _scalar_items(value, skip, depth - 1, prefix=f"{path}.")
        elif _is_scalar(value):
            items.append((path, value))
    return items


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float, np.integer, np.floating, np.bool_))


#: Keys never shown in fact lists: echoes of the config and texts the report words itself.
_ALWAYS_SKIP = {"settings", "sign_convention", "sr_z", "ci_method", "information_criteria_note", "fixed_terms",
                "random_terms"}


def _format_value(key: str, value: Any, min_cell: int) -> str:
    parts = key.split(".")
    last = parts[-1]
    if value is None:
        return DASH
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    # "n.excluded.outliers" is a count because of its first part; "n_used" because of its name
    if numeric and (is_count_name(last) or parts[0] == "n"):
        return suppress_count(value, min_cell)
    if isinstance(value, str):
        return scrub_counts(value, min_cell)
    if last in {"p", "p_value", "pvalue"} or last.startswith("p_") or last.endswith("_p"):
        return format_p(value)
    return format_number(value)


def _group_stats(frame: pd.DataFrame, group: str, column: str, min_cell: int, label_prefix: str = "") -> list[dict]:
    """Box-plot statistics per group (5th/25th/50th/75th/95th percentiles and mean).

    Groups with fewer than ``min_cell`` values are left out (their percentiles would
    describe a handful of people).
    """
    values = frame[[group, column]].copy()
    values[column] = pd.to_numeric(values[column], errors="coerce")
    values = values[np.isfinite(values[column].to_numpy(dtype=float))]
    if values.empty:
        return []
    grouped = values.groupby(group, sort=True)[column]
    counts = grouped.size()
    quantiles = grouped.quantile([0.05, 0.25, 0.5, 0.75, 0.95]).unstack()
    means = grouped.mean()
    stats = []
    for key in counts.index:
        if counts[key] < min_cell:
            continue
        q = quantiles.loc[key]
        stats.append({
            "label": f"{label_prefix}{_label(key)}", "whislo": q[0.05], "q1": q[0.25], "med": q[0.5],
            "q3": q[0.75], "whishi": q[0.95], "mean": means[key],
        })
    return stats


_PEOPLE_RE = re.compile(r"\b(\d+) (participants?|people|persons?|rows?|units?)( \((\d+(?:\.\d+)?)%\))?")
_IMPLIES_RE = re.compile(r"\bimplies (\d+)\b")


def scrub_counts(text: str, min_cell: int) -> str:
    """Suppress small counts written inside free text (e.g. a degenerate-solution reason).

    "class 3 has 2 participants (0.05%)" becomes "class 3 has <5 participants".
    """
    def people(match: re.Match) -> str:
        count = int(match.group(1))
        if is_suppressed(count, min_cell):
            return f"{suppress_count(count, min_cell)} {match.group(2)}"
        return match.group(0)

    def implies(match: re.Match) -> str:
        return f"implies {suppress_count(int(match.group(1)), min_cell)}"

    return _IMPLIES_RE.sub(implies, _PEOPLE_RE.sub(people, str(text)))


def _label(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


# --------------------------------------------------------------------------------------
# The builder
# --------------------------------------------------------------------------------------


class ReportBuilder:
    """Builds the sections of one cohort's report from :class:`ReportInputs`."""

    def __init__(self, inputs: ReportInputs):
        self.inputs = inputs
        cohort = inputs.cohort_config
        settings = dict(getattr(cohort, "report", {}) or {})
        self.min_cell = int(settings.get("min_cell") or 5)
        self.max_points = int(settings.get("max_points") or 5000)
        self.title = settings.get("title") or f"srflow report: {inputs.cohort}"
        provenance = dict(inputs.provenance or {})
        self.seed = provenance.get("seed")
        if self.seed is None:
            self.seed = inputs.config_data.get("seed", 0) if isinstance(inputs.config_data, Mapping) else 0
        self.seed = int(self.seed)
        self._figure_count = 0
        scores = inputs.scores
        self.scores = scores
        self.n_participants = int(scores["participant_id"].nunique()) if "participant_id" in scores else 0
        self.waves = sorted(pd.unique(scores["wave"]).tolist()) if "wave" in scores and len(scores) else []
        self.has_time = "time" in scores and bool(np.isfinite(pd.to_numeric(scores["time"], errors="coerce")).any())
        self.grolts_facts: dict[str, Any] = {"has_time": self.has_time}

    def count(self, value: Any) -> str:
        """The one way a count is shown (small counts suppressed)."""
        return suppress_count(value, self.min_cell)

    def figure(self, fig, alt: str, caption: str, kind: str = "svg") -> fg.FigureBlock:
        """Number a matplotlib figure and render it as inline SVG (``kind="svg"``) or PNG."""
        self._figure_count += 1
        fig_id = f"fig{self._figure_count}"
        html = fg.to_svg(fig, fig_id, alt) if kind == "svg" else fg.to_png(fig, alt)
        return fg.FigureBlock(id=fig_id, html=html, caption=f"Figure {self._figure_count}. {caption}", alt=alt)

    # ---------------------------------------------------------------- overview
    def overview(self) -> Section:
        """Participants, waves, rows; completeness, retention and timing per wave, with a plot."""
        section = Section("overview", "Data overview")
        scores = self.scores
        if scores.empty or "wave" not in scores:
            section.add("note", tone="warn", text="The scores table is empty; nothing to describe.")
            return section
        frame, per_wave = self._per_wave()
        first = per_wave["observed"].iloc[0]
        observed_total = int(scores.loc[frame["has_any"].to_numpy(), "participant_id"].nunique())
        section.add("dl", items=[
            ("Participants", self.count(self.n_participants)),
            ("Participants with P or E at any wave", self.count(observed_total)),
            ("Waves", format_number(len(self.waves))),
            ("Scored rows (participant × wave)", self.count(len(scores))),
            ("Rows with P", self.count(int(frame["has_p"].sum()))),
            ("Rows with E", self.count(int(frame["has_e"].sum()))),
        ])
        rows = []
        for wave, r in per_wave.iterrows():
            rows.append([
                _label(wave), self.count(r["rows"]), self.count(r["observed"]), self.count(r["with_p"]),
                self.count(r["with_e"]), self.count(r["with_both"]), format_share(r["observed"], first, self.min_cell),
                format_number(r["time_mean"], 2) if self.has_time and r["rows"] >= self.min_cell else DASH,
                format_number(r["time_sd"], 2) if self.has_time and r["rows"] >= self.min_cell else DASH,
            ])
        section.add("table", table=Table(
            ["wave", "rows", "observed (P or E)", "with P", "with E", "with P and E", "retention vs wave 1",
             "time mean", "time SD"],
            rows,
            caption=(
                "Completeness, retention and assessment timing per wave. Observed = a row with P or E; retention = "
                "observed at this wave as a share of those observed at the first wave. "
                + (f"Time is in the units of the time column (days since first assessment for dates); withheld where a wave has fewer than {self.min_cell} rows." if self.has_time
                   else "No assessment time was recorded.")
            ),
            numeric=[False] + [True] * 8,
        ))
        section.add("figure", figure=self.figure(*self.overview_figure()))
        self.facts_overview = {
            "participants": self.count(self.n_participants), "waves": format_number(len(self.waves)),
            "rows": self.count(len(scores)),
        }
        return section

    def _per_wave(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        scores = self.scores
        frame = pd.DataFrame({
            "wave": scores["wave"],
            "has_p": pd.to_numeric(scores["P"], errors="coerce").notna() if "P" in scores else False,
            "has_e": pd.to_numeric(scores["E"], errors="coerce").notna() if "E" in scores else False,
            "time": pd.to_numeric(scores["time"], errors="coerce") if "time" in scores else np.nan,
        })
        frame["has_any"] = frame["has_p"] | frame["has_e"]
        frame["has_both"] = frame["has_p"] & frame["has_e"]
        per_wave = frame.groupby("wave", sort=True).agg(
            rows=("has_any", "size"), observed=("has_any", "sum"), with_p=("has_p", "sum"), with_e=("has_e", "sum"),
            with_both=("has_both", "sum"), time_mean=("time", "mean"), time_sd=("time", "std"),
        )
        return frame, per_wave

    def overview_figure(self) -> tuple[Any, str, str]:
        """The participation figure: (matplotlib figure, alt text, caption)."""
        _, per_wave = self._per_wave()
        first = per_wave["observed"].iloc[0]
        retention = (per_wave["observed"] / first).to_numpy(dtype=float) if first > 0 else np.zeros(len(per_wave))
        retention = np.where(per_wave["observed"].to_numpy() >= self.min_cell, retention, 0.0)
        fig = fg.participation_plot(
            per_wave.index.tolist(),
            {"observed": per_wave["observed"].to_numpy(), "with P": per_wave["with_p"].to_numpy(),
             "with E": per_wave["with_e"].to_numpy()},
            retention, self.min_cell,
        )
        return (
            fig,
            "Line chart of participants observed, with P and with E per wave, and bar chart of retention relative to wave 1.",
            f"Participation per wave (left) and retention relative to the first wave (right). Counts below {self.min_cell} are not drawn.",
        )

    def scores_figure(self) -> tuple[Any, str, str] | None:
        """The P and E box plots: (matplotlib figure, alt text, caption), or None without P and E."""
        panels = [(f"{c}{' (problems)' if c == 'P' else ' (exposure)'}", _group_stats(self.scores, "wave", c, self.min_cell))
                  for c in ("P", "E") if c in self.scores]
        if not panels:
            return None
        return (
            fg.box_panels(panels, [p[0] for p in panels]),
            "Box plots of P and E at each wave.",
            ("Distribution of P and E per wave: boxes span the quartiles, the line marks the median, the "
             "diamond the mean, whiskers the 5th and 95th percentiles. Waves with fewer than "
             f"{self.min_cell} scores are left out."),
        )

    # ---------------------------------------------------------------- validation
    def validation(self) -> Section:
        """Policy, kept/excluded rows, exclusions by reason, careless-responding flags, failed checks."""
        section = Section("validation", "Validation")
        cohort = self.inputs.cohort_config
        policy = getattr(cohort, "on_invalid", "fail")
        section.add("p", text=(
            "Policy: stop on any failed check (on_invalid: fail)." if policy == "fail"
            else "Policy: rows failing a check are excluded and the analysis goes on (on_invalid: exclude)."
        ))
        ledger, failures = self.inputs.ledger, self.inputs.failures
        self.excluded_text = DASH
        if ledger is None:
            section.add("note", tone="info", text="No row ledger was provided.")
        else:
            status = ledger["status"].astype("str") if "status" in ledger else pd.Series("kept", index=ledger.index)
            kept, excluded = int((status == "kept").sum()), int((status == "excluded").sum())
            self.excluded_text = self.count(excluded)
            section.add("dl", items=[
                ("Source rows", self.count(len(ledger))), ("Kept", self.count(kept)), ("Excluded", self.count(excluded)),
            ])
            if excluded and "reason" in ledger:
                reasons = ledger.loc[status == "excluded", "reason"].astype("str").str.split(";").explode().str.strip()
                reasons = reasons[reasons != ""]
                counts = reasons.value_counts()
                counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
                section.add("table", table=Table(
                    ["reason", "rows excluded"], [[reason, self.count(n)] for reason, n in counts.items()],
                    caption="Exclusions by reason (a row failing several checks counts under each).",
                    numeric=[False, True],
                ))
            if "flags" in ledger:
                raw_flags = ledger["flags"].fillna("").astype("str")
                flagged = (raw_flags.str.strip() != "").to_numpy()  # split only the few flagged rows
                flags = pd.DataFrame({"flags": raw_flags[flagged].str.split(";"), "status": status[flagged].to_numpy()})
                flags = flags.explode("flags")
                flags["flags"] = flags["flags"].str.strip()
                flags = flags[flags["flags"] != ""]
                if flags.empty:
                    section.add("p", text="No careless-responding flag was raised.")
                else:
                    table = flags.groupby(["flags", "status"], sort=True).size().unstack(fill_value=0)
                    table = table.reindex(columns=["kept", "excluded"], fill_value=0)
                    table["total"] = table["kept"] + table["excluded"]
                    section.add("table", table=Table(
                        ["flag", "rows", "kept", "excluded"],
                        [[flag, self.count(r["total"]), self.count(r["kept"]), self.count(r["excluded"])] for flag, r in table.iterrows()],
                        caption="Careless-responding flags (e.g. straightlining:instrument = every answered item identical).",
                        numeric=[False, True, True, True],
                    ))
        if failures is None:
            section.add("note", tone="info", text="No failure table was provided.")
        elif failures.empty:
            section.add("p", text="No validation check failed.")
        else:
            check = failures["check"].astype("str") if "check" in failures else pd.Series("unknown", index=failures.index)
            frame = pd.DataFrame({
                "check": check.to_numpy(),
                "row": failures["source_row"].to_numpy() if "source_row" in failures else np.arange(len(failures)),
                "column": failures["column"].astype("str").to_numpy() if "column" in failures else "",
            })
            grouped = frame.groupby("check", sort=True)
            summary = grouped.agg(failures=("row", "size"), rows=("row", "nunique"))
            columns = grouped["column"].agg(lambda s: ", ".join(sorted(c for c in pd.unique(s) if c)))
            section.add("table", table=Table(
                ["check", "failures", "rows affected", "columns"],
                [[name, self.count(r["failures"]), self.count(r["rows"]), columns[name] or DASH] for name, r in summary.iterrows()],
                caption=("Failed checks. Offending values are not shown here (they are in validation/failures.csv, "
                         "which stays with the data)."),
                numeric=[False, True, True, False],
            ))
        return section

    # ---------------------------------------------------------------- scores
    def scores_section(self) -> Section:
        """Box plots of P and E per wave and a per-wave summary table of every score."""
        section = Section("scores", "Scores")
        scores = self.scores
        cohort = self.inputs.cohort_config
        columns = [c for c in ["P", "E", *getattr(cohort, "instruments", {})] if c in scores and c not in ("",)]
        columns = list(dict.fromkeys(columns))
        if scores.empty or not columns:
            section.add("note", tone="warn", text="No score columns to describe.")
            return section
        made = self.scores_figure()
        if made is not None:
            section.add("figure", figure=self.figure(*made))
        numeric = scores[["wave", *columns]].copy()
        for c in columns:
            numeric[c] = pd.to_numeric(numeric[c], errors="coerce")
        grouped = numeric.groupby("wave", sort=True)
        counts, means, sds = grouped.count(), grouped.mean(), grouped.std()
        quartiles = grouped.quantile([0.25, 0.5, 0.75])
        rows = []
        for c in columns:
            for wave in counts.index:
                n = counts.at[wave, c]
                hide = n < self.min_cell
                q = [quartiles.at[(wave, p), c] for p in (0.25, 0.5, 0.75)]
                rows.append([c, _label(wave), self.count(n)] + [
                    DASH if hide else format_number(v, 2) for v in (means.at[wave, c], sds.at[wave, c], *q)
                ])
        section.add("table", table=Table(
            ["score", "wave", "n", "mean", "SD", "25th pct", "median", "75th pct"], rows,
            caption=f"Score summaries per wave (statistics withheld where n < {self.min_cell}).",
            numeric=[False, False] + [True] * 6,
        ))
        return section

    # ---------------------------------------------------------------- SR
    def sr_section(self) -> Section:
        """One subsection per SR spec: description, line tables, scatter, QQ, SR distribution, SR by wave."""
        section = Section("sr", "Stressor-reactivity (SR) scores")
        configured = dict(getattr(self.inputs.cohort_config, "sr", {}) or {})
        results = dict(self.inputs.sr or {})
        names = list(dict.fromkeys([*configured, *results]))
        if not names:
            section.add("note", tone="info", text="SR scores: not configured (add an sr block to the config).")
            return section
        section.add("p", text=(
            "SR = P minus the P expected from the normative E–P line (raw, in P's units) and its z-score over the "
            "scored units. Negative SR = fewer problems than expected for the stressors met = more resilient."
        ))
        for name in names:
            section.add("h3", text=f"SR spec: {name}", id=f"sr-{_slug(name)}")
            if name in configured:
                section.add("p", text=tx.describe_sr_spec(name, configured[name]))
            else:
                section.add("note", tone="info", text="This spec has results but is not in the current config.")
            result = results.get(name)
            if not result:
                section.add("note", tone="warn", text=f"No results found for this spec (expected sr/{name}.csv and sr/{name}.line.json).")
                continue
            try:
                self._sr_spec(section, name, result)
            except Exception as exc:  # a malformed result must not take the report down
                section.add("note", tone="error", text=f"The results of this spec could not be displayed: {type(exc).__name__}: {exc}")
        return section

    def _sr_spec(self, section: Section, name: str, result: Mapping[str, Any]) -> None:
        line = result.get("line") if isinstance(result.get("line"), Mapping) else None
        table = result.get("table")
        reason = _failed(line) or _failed(result)
        if reason:
            section.add("note", tone="error", text=f"Could not be computed: {reason}")
            return
        if table is None or not isinstance(table, pd.DataFrame) or table.empty:
            section.add("note", tone="warn", text="The SR table is empty or missing.")
            if line:
                self._line_tables(section, line)
            return
        group = "wave" if "wave" in table else "window" if "window" in table else None
        sr_col = "sr_z" if "sr_z" in table else "sr" if "sr" in table else None
        scored = table[sr_col].notna() if sr_col else pd.Series(False, index=table.index)
        items = [("Scored units", self.count(int(scored.sum())))]
        if "participant_id" in table:
            items.append(("Participants with an SR score", self.count(int(table.loc[scored, "participant_id"].nunique()))))
        if "sr" in table:
            raw = _finite(table["sr"])
            if raw.size >= self.min_cell:
                items += [("Mean raw SR", format_number(raw.mean())), ("SD of raw SR", format_number(raw.std(ddof=1) if raw.size > 1 else np.nan))]
        section.add("dl", items=items)
        if line:
            self._line_tables(section, line)
        line_group = group
        if line and "line_key" in line:  # one pooled line (e.g. reference waves) is drawn once
            line_group = line["line_key"] if line["line_key"] in table else None
        exposure = str(line.get("exposure", "E")) if line else "E"
        self._sr_scatter(section, name, table, line_group, exposure)
        qq = self._qq_sets(line) if line else []
        source = "residual quantiles stored with the line"
        if not qq and sr_col:
            values = _finite(table[sr_col])
            if values.size >= max(self.min_cell, 20):
                probs = np.linspace(0.005, 0.995, 100)
                qq = [("", special.ndtri(probs), np.quantile(values, probs))]
                source = f"100 quantiles of {sr_col} computed for the report"
        if qq:
            section.add("figure", figure=self.figure(
                fg.qq_plot(qq), alt=f"Normal QQ plot of the residuals of SR spec {name}.",
                caption=f"Residual QQ plot against the normal distribution ({source}); the dashed line passes through the quartiles.",
            ))
        if sr_col:
            values = _finite(table[sr_col])
            if values.size >= self.min_cell:
                if sr_col == "sr_z":
                    low, high = max(values.min(), -5.0), min(values.max(), 5.0)
                else:
                    low, high = values.min(), values.max()
                if high <= low:
                    high = low + 1.0
                n_bins = int(np.clip(np.sqrt(values.size), 8, 40))
                edges = np.linspace(low, high, n_bins + 1)
                counts, _ = np.histogram(np.clip(values, low, high), bins=edges)
                section.add("figure", figure=self.figure(
                    fg.histogram(counts, edges, self.min_cell, "SR (z)" if sr_col == "sr_z" else "SR (raw)"),
                    alt=f"Histogram of SR scores of spec {name}.",
                    caption=(f"Distribution of {'z-scored' if sr_col == 'sr_z' else 'raw'} SR"
                             + (" (values beyond ±5 gathered in the outer bins)" if sr_col == "sr_z" else "")
                             + f"; bins with fewer than {self.min_cell} units are not drawn. Dotted line: SR = 0."),
                ))
            if group:
                stats = _group_stats(table, group, sr_col, self.min_cell)
                if len(stats) > 0:
                    label = "wave" if group == "wave" else "window (first wave)"
                    section.add("figure", figure=self.figure(
                        fg.box_panels([(f"SR by {label}", stats)], ["SR (z)" if sr_col == "sr_z" else "SR (raw)"], xlabel=label),
                        alt=f"Box plots of SR of spec {name} per {label}.",
                        caption=(f"SR per {label}: quartile boxes, median line, mean diamond, whiskers at the 5th and 95th "
                                 f"percentiles; groups with fewer than {self.min_cell} scores left out."),
                    ))
            else:
                section.add("p", text="One SR score per participant (no wave breakdown for this level).")

    def _line_entries(self, line: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
        for key in ("lines", "fits", "per_group", "groups", "per_wave", "per_window"):
            value = line.get(key)
            if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
                return [(_entry_label(entry, index), entry) for index, entry in enumerate(value)]
            if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
                return [(str(k), v) for k, v in value.items()]
        return [("", line)]

    def _coefficient_rows(self, entry: Mapping[str, Any]) -> list[list[Any]]:
        coefs = entry.get("coefficients", entry.get("coef", entry.get("params")))
        rows = []
        if isinstance(coefs, list):
            for index, item in enumerate(coefs):
                if isinstance(item, Mapping):
                    term = item.get("term", item.get("name", f"b{index}"))
                    ci = item.get("ci")
                    rows.append([term, item.get("estimate", item.get("value", item.get("coef"))), item.get("se", item.get("std_err")),
                                 item.get("ci_low", ci[0] if isinstance(ci, (list, tuple)) else None),
                                 item.get("ci_high", ci[1] if isinstance(ci, (list, tuple)) else None)])
                elif _is_scalar(item):
                    rows.append([f"b{index}", item, None, None, None])
        elif isinstance(coefs, Mapping):
            se = entry.get("se", entry.get("std_err", {}))
            ci = entry.get("ci", {})
            ci_low, ci_high = entry.get("ci_low", {}), entry.get("ci_high", {})
            for term, value in coefs.items():
                if isinstance(value, Mapping):
                    ci_t = value.get("ci")
                    rows.append([term, value.get("estimate", value.get("value")), value.get("se"),
                                 value.get("ci_low", ci_t[0] if isinstance(ci_t, (list, tuple)) else None),
                                 value.get("ci_high", ci_t[1] if isinstance(ci_t, (list, tuple)) else None)])
                    continue
                ci_t = ci.get(term) if isinstance(ci, Mapping) else None
                rows.append([
                    term, value, se.get(term) if isinstance(se, Mapping) else None,
                    (ci_low.get(term) if isinstance(ci_low, Mapping) else None) if not isinstance(ci_t, (list, tuple)) else ci_t[0],
                    (ci_high.get(term) if isinstance(ci_high, Mapping) else None) if not isinstance(ci_t, (list, tuple)) else ci_t[1],
                ])
        return rows

    _LINE_SKIP = {"coefficients", "coefficients_centered", "coef", "params", "se", "std_err", "ci", "ci_low", "ci_high",
                  "status", "reason", "qq", "residual_qq", "residual_quantiles", "quantiles", "diagnostics", "lines",
                  "fits", "per_group", "groups", "per_wave", "per_window", "label", "wave", "window", "group", "name",
                  "E_center", "cooks_note"}
    _LINE_TOP_SKIP = _LINE_SKIP | {"spec", "line_key", "level", "outcome", "exposure", "waves", "alpha", "form_requested",
                                   "reference"}

    def _line_tables(self, section: Section, line: Mapping[str, Any]) -> None:
        entries = self._line_entries(line)
        grouped = len(entries) > 1
        if entries[0][1] is not line:  # facts about the spec as a whole (form used, units used/excluded, tests)
            facts = [(k, v) for k, v in _scalar_items(line, self._LINE_TOP_SKIP)
                     if v is not None and not k.endswith(".method") and k != "outliers.k"]
            if facts:
                section.add("dl", items=[(humanize(k), _format_value(k, v, self.min_cell)) for k, v in facts])
        coef_rows, detail_rows, detail_keys, failed = [], [], [], []
        for label, entry in entries:
            reason = _failed(entry)
            if reason:
                failed.append(f"{label or 'line'}: could not be computed: {reason}")
                continue
            for term, est, se, lo, hi in self._coefficient_rows(entry):
                coef_rows.append(([label] if grouped else []) + [str(term), format_number(est, 4), format_number(se, 4),
                                                                  format_number(lo, 4), format_number(hi, 4)])
            items = _scalar_items(entry, self._LINE_SKIP)
            for key, _ in items:
                if key not in detail_keys:
                    detail_keys.append(key)
            detail_rows.append((label, dict(items)))
        for message in failed:
            section.add("note", tone="error", text=message)
        if coef_rows:
            section.add("table", table=Table(
                (["line"] if grouped else []) + ["term", "estimate", "SE", "95% CI low", "95% CI high"], coef_rows,
                caption="Coefficients of the normative line(s) (P expected from E).",
                numeric=([False] if grouped else []) + [False, True, True, True, True],
            ))
        fits = line.get("fits")
        if isinstance(fits, Mapping) and len(fits) > 1:
            fit_rows = []
            for form, value in fits.items():
                fit_entries = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else []
                if not fit_entries:
                    fit_rows.append([str(form), DASH, "not fitted", DASH, DASH])
                for index, entry in enumerate(fit_entries):
                    if isinstance(entry, Mapping):
                        fit_rows.append([str(form), _entry_label(entry, index),
                                         format_number(entry.get("r2")), format_number(entry.get("r2_adj")),
                                         format_number(entry.get("loglik_ml", entry.get("loglik")))])
            if fit_rows:
                section.add("table", table=Table(
                    ["form", "line", "R²", "adjusted R²", "log-likelihood (ML)"], fit_rows,
                    caption="Both forms as fitted for the automatic choice (the form test above decides which is used).",
                    numeric=[False, False, True, True, True],
                ))
        if detail_keys:
            rows = [([label] if grouped else []) + [_format_value(k, values.get(k), self.min_cell) for k in detail_keys]
                    for label, values in detail_rows]
            section.add("table", table=Table(
                (["line"] if grouped else []) + [humanize(k) for k in detail_keys], rows,
                caption="Fit of the normative line(s): form, fit statistics, units used and excluded, tests as stored with the line.",
                numeric=([False] if grouped else []) + [True] * len(detail_keys),
            ))

    def _qq_sets(self, line: Mapping[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
        sets = []
        for label, entry in self._line_entries(line):
            parsed = _parse_quantiles(entry)
            if parsed is None and isinstance(entry.get("diagnostics"), Mapping):
                parsed = _parse_quantiles(entry["diagnostics"])
            if parsed is not None:
                sets.append((label, *parsed))
        if not sets:
            parsed = _parse_quantiles(line.get("diagnostics", {})) if isinstance(line.get("diagnostics"), Mapping) else None
            if parsed is not None:
                sets.append(("", *parsed))
        return sets

    def _sr_scatter(self, section: Section, name: str, table: pd.DataFrame, group: str | None, exposure: str = "E") -> None:
        if "E" not in table:
            return
        e = pd.to_numeric(table["E"], errors="coerce").to_numpy(dtype=float)
        if "P_expected" in table and "sr" in table:
            y = pd.to_numeric(table["P_expected"], errors="coerce").to_numpy(dtype=float) + pd.to_numeric(table["sr"], errors="coerce").to_numpy(dtype=float)
        elif "P" in table:
            y = pd.to_numeric(table["P"], errors="coerce").to_numpy(dtype=float)
        else:
            return
        valid = np.flatnonzero(np.isfinite(e) & np.isfinite(y))
        if valid.size < self.min_cell:
            section.add("p", text=f"Too few scored units to draw the E–P scatter (fewer than {self.min_cell}).")
            return
        rng = np.random.default_rng([self.seed, zlib.crc32(name.encode("utf-8"))])
        shown = valid
        if valid.size > self.max_points:
            shown = np.sort(rng.choice(valid, size=self.max_points, replace=False))
        lines, not_a_line, few_units = [], False, False
        if "P_expected" in table:
            expected = pd.to_numeric(table["P_expected"], errors="coerce").to_numpy(dtype=float)
            keys = table[group].to_numpy() if group else np.zeros(len(table))
            ok = np.isfinite(e) & np.isfinite(expected)
            for key in pd.unique(keys[ok]):
                mask = ok & (keys == key)
                if mask.sum() < self.min_cell:  # a line through a handful of people describes them
                    few_units = True
                    continue
                lx, ly = e[mask], expected[mask]
                order = np.argsort(lx, kind="stable")
                lx, ly = lx[order], ly[order]
                if lx.size > 200:
                    pick = np.unique(np.linspace(0, lx.size - 1, 200).round().astype(int))
                    lx, ly = lx[pick], ly[pick]
                if lx.size >= 2 and np.ptp(lx) > 0:
                    fit = np.polyfit(lx, ly, 2)
                    scale = max(np.ptp(ly), np.abs(ly).max(), 1e-12)
                    if np.abs(np.polyval(fit, lx) - ly).max() > 1e-6 * scale:
                        not_a_line = True
                        continue
                    # from the 0.5th to the 99.5th percentile: the ends would show single people's E
                    low, high = np.quantile(e[mask], [0.005, 0.995])
                    grid = np.linspace(low, high, 60)
                    lines.append(((f"{group} {_label(key)}" if group else "normative line"), grid, np.polyval(fit, grid)))
            lines.sort(key=lambda item: item[0])
            if group:
                lines.sort(key=lambda item: float(item[0].split(" ")[-1]) if _is_number(item[0].split(" ")[-1]) else math.inf)
        caption = (f"E–P scatter of spec {name} with the normative line{'s' if len(lines) > 1 else ''}"
                   + (f" (one per {group})" if group and len(lines) > 1 else "") + ". ")
        if shown.size < valid.size:
            caption += (f"A random subset of {self.count(shown.size)} of {self.count(valid.size)} units is drawn "
                        f"(seeded, seed {self.seed}); the lines use every unit. ")
        if lines:
            caption += "Lines span the 0.5th to 99.5th percentile of E. "
        if few_units:
            caption += f"Lines of groups with fewer than {self.min_cell} units are not drawn. "
        if not_a_line:
            caption += "Expected values depend on more than E here (e.g. the previous P), so no line is drawn. "
        caption += "Points are unlabelled."
        ylabel = "observed outcome (P)" if "P_expected" in table and "sr" in table else "P"
        xlabel = "E (stressor exposure)" if exposure == "E" else f"{exposure} (exposure)"
        fig = fg.scatter_with_lines(e[shown], y[shown], lines, xlabel, ylabel)
        section.add("figure", figure=self.figure(
            fig, alt=f"Scatter plot of E against P for SR spec {name} with the normative line.", caption=caption, kind="png",
        ))

    # ---------------------------------------------------------------- mixed models
    def mixed_section(self) -> Section:
        """One subsection per mixed model: diagnostics in words, fixed effects, fit, variance components."""
        section = Section("mixed", "Linear mixed models")
        configured = dict(getattr(self.inputs.cohort_config, "mixed_models", {}) or {})
        results = dict(self.inputs.mixed or {})
        names = list(dict.fromkeys([*configured, *results]))
        if not names:
            section.add("note", tone="info", text="Mixed models: not configured (add a mixed_models block to the config).")
            return section
        for name in names:
            section.add("h3", text=f"Model: {name}", id=f"mixed-{_slug(name)}")
            if name in configured:
                section.add("p", text=f"{tx.mixed_formula(configured[name])}, fitted by {configured[name].get('method', 'reml').upper()}.")
            result = results.get(name)
            if not result:
                section.add("note", tone="warn", text=f"No results found for this model (expected mixed/{name}.fit.json).")
                continue
            try:
                self._mixed_model(section, name, result)
            except Exception as exc:
                section.add("note", tone="error", text=f"The results of this model could not be displayed: {type(exc).__name__}: {exc}")
        return section

    _FIT_SKIP = {"status", "reason", "warnings", "variance_components", "random_effects", "var_components", "vc",
                 "converged", "singular", "optimizer", "optimiser", "gradient_norm", "icc", "comparison", "lrt",
                 "model", "outcome"}

    def _mixed_model(self, section: Section, name: str, result: Mapping[str, Any]) -> None:
        fit = result.get("fit") if isinstance(result.get("fit"), Mapping) else {}
        reason = _failed(fit) or _failed(result)
        if reason:
            section.add("note", tone="error", text=f"Could not be computed: {reason}")
            return
        words = _diagnostic_words(fit)
        if words:
            section.add("p", text=" ".join(words))
        warnings = fit.get("warnings")
        if isinstance(warnings, str) and warnings:
            warnings = [warnings]
        if isinstance(warnings, list) and warnings:
            section.add("list", title="Warnings", items=[str(w) for w in warnings])
        fixed = result.get("fixed")
        if isinstance(fixed, pd.DataFrame) and not fixed.empty:
            order = [c for c in ("term", "estimate", "se", "statistic", "p", "ci_low", "ci_high") if c in fixed]
            order += [c for c in fixed.columns if c not in order]
            header = {"se": "SE", "statistic": "z", "ci_low": "95% CI low", "ci_high": "95% CI high"}
            rows = [[(format_p(r[c]) if c == "p" else str(r[c]) if c == "term" else _format_value(c, r[c], self.min_cell))
                     for c in order] for _, r in fixed.iterrows()]
            section.add("table", table=Table([header.get(c, c) for c in order], rows, caption="Fixed effects.",
                                             numeric=[c != "term" for c in order]))
        elif fixed is not None:
            section.add("note", tone="warn", text="The fixed-effects table is empty.")
        details = _scalar_items(fit, self._FIT_SKIP)
        icc = fit.get("icc")
        if _is_scalar(icc) and icc is not None:
            details.append(("ICC (null model)", icc))
        elif isinstance(icc, Mapping):
            details += [(f"ICC {k}", v) for k, v in icc.items() if _is_scalar(v)]
        if details:
            section.add("dl", items=[(humanize(k), _format_value(k, v, self.min_cell)) for k, v in details])
        vc = next((fit[k] for k in ("variance_components", "random_effects", "var_components", "vc") if k in fit), None)
        vc_table = _variance_table(vc)
        if vc_table is not None:
            vc_table.caption = "Variance components (standard deviations, variances and correlations as fitted)."
            section.add("table", table=vc_table)
        for key in ("comparison", "lrt"):
            if isinstance(fit.get(key), Mapping):
                self._comparison(section, name, fit[key])
        random = result.get("random")
        if isinstance(random, pd.DataFrame) and not random.empty and len(random) >= self.min_cell:
            value_cols = [c for c in random.columns if c != "participant_id" and pd.api.types.is_numeric_dtype(random[c])]
            rows = []
            for c in value_cols:
                v = _finite(random[c])
                if v.size >= self.min_cell:
                    rows.append([c, self.count(v.size), format_number(v.mean()), format_number(v.std(ddof=1) if v.size > 1 else np.nan),
                                 format_number(np.quantile(v, 0.25)), format_number(np.median(v)), format_number(np.quantile(v, 0.75))])
            if rows:
                section.add("table", table=Table(
                    ["column", "participants", "mean", "SD", "25th pct", "median", "75th pct"], rows,
                    caption="Spread of the per-participant random effects (conditional modes) across participants; individual values stay in mixed/*.random.csv.",
                    numeric=[False] + [True] * 6,
                ))

    def _comparison(self, section: Section, name: str, test: Mapping[str, Any]) -> None:
        """A likelihood-ratio test of nested models, in one sentence and a small table."""
        small, large = test.get("small", "the smaller model"), test.get("large", name)
        reason = _failed(test)
        if reason:
            section.add("note", tone="error", text=f"Likelihood-ratio test of '{small}' against '{large}' could not be computed: {reason}")
            return
        refit = " (both refitted by ML)" if _as_bool(test.get("refit_with_ml")) else " (ML fits)"
        chi2 = test.get("chi2", test.get("statistic"))
        section.add("p", text=(
            f"Likelihood-ratio test of '{small}' against '{large}'{refit}: chi-square = {format_number(chi2)}, "
            f"df = {format_number(test.get('df'))}, p {_p_clause(test.get('p'))}."
            + (" One of the fits is singular, so the test is approximate." if _as_bool(test.get("singular")) else "")
        ))
        rows = []
        for which, label in (("small", small), ("large", large)):
            values = [test.get(f"{stat}_{which}") for stat in ("loglik", "aic", "bic")]
            if any(v is not None for v in values):
                rows.append([str(label)] + [format_number(v) for v in values])
        if rows:
            section.add("table", table=Table(["model", "log-likelihood (ML)", "AIC", "BIC"], rows,
                                             caption="Nested models compared (ML fits on the same rows).",
                                             numeric=[False, True, True, True]))

    # ---------------------------------------------------------------- trajectories
    def trajectories_section(self) -> Section:
        """One subsection per trajectory spec: selection table, class curves per K, class sizes."""
        section = Section("trajectories", "Trajectory models")
        configured = dict(getattr(self.inputs.cohort_config, "trajectories", {}) or {})
        results = dict(self.inputs.trajectories or {})
        names = list(dict.fromkeys([*configured, *results]))
        self.grolts_facts["trajectory_results"] = False
        if not names:
            section.add("note", tone="info", text="Trajectory models: not configured (add a trajectories block to the config).")
            return section
        for name in names:
            section.add("h3", text=f"Trajectories: {name}", id=f"traj-{_slug(name)}")
            spec = configured.get(name)
            if spec is not None:
                section.add("p", text=tx.describe_trajectory_spec(name, spec))
            result = results.get(name)
            if not result or all(v is None for v in result.values()):
                section.add("note", tone="warn", text=f"No results found for this spec (expected trajectories/{name}/selection.csv).")
                continue
            try:
                self._trajectory(section, name, result, spec or {})
            except Exception as exc:
                section.add("note", tone="error", text=f"The results of this spec could not be displayed: {type(exc).__name__}: {exc}")
        return section

    def _trajectory(self, section: Section, name: str, result: Mapping[str, Any], spec: Mapping[str, Any]) -> None:
        reason = _failed(result)
        if reason:
            section.add("note", tone="error", text=f"Could not be computed: {reason}")
            return
        selection = result.get("selection")
        classes = result.get("classes")
        curves = result.get("curves")
        sizes = pd.DataFrame(columns=["K", "class", "n"])
        totals: dict[Any, int] = {}
        labels: dict[tuple, str] = {}
        avepp: dict[tuple, float] = {}
        if isinstance(classes, pd.DataFrame) and not classes.empty and {"K", "class"} <= set(classes.columns):
            sizes = classes.groupby(["K", "class"], sort=True).size().rename("n").reset_index()
            totals = classes.groupby("K", sort=True).size().to_dict()
            if "label" in classes:
                labels = classes.groupby(["K", "class"], sort=True)["label"].first().astype("str").to_dict()
            for (k, c), part in classes.groupby(["K", "class"], sort=True):
                column = next((col for col in (f"post_{_label(c)}", f"post{_label(c)}", f"post_{c}") if col in part), None)
                if column is not None:
                    avepp[(k, c)] = float(pd.to_numeric(part[column], errors="coerce").mean())
        if isinstance(curves, pd.DataFrame) and "label" in curves and {"K", "class"} <= set(curves.columns):
            for (k, c), label in curves.groupby(["K", "class"], sort=True)["label"].first().astype("str").items():
                labels.setdefault((k, c), label)
        if not totals and isinstance(selection, pd.DataFrame) and "n" in selection:
            totals = dict(zip(selection["K"], selection["n"]))
        chosen = None
        if isinstance(selection, pd.DataFrame) and not selection.empty and "K" in selection:
            chosen = self._selection_table(section, selection, totals)
        else:
            section.add("note", tone="warn", text="No model-selection table.")
        if chosen is not None:
            section.add("p", text=f"Chosen number of classes: K = {_label(chosen)} (lowest BIC among solutions without a degenerate class).")
            fitted = pd.to_numeric(selection["K"], errors="coerce").max()
            if len(selection) > 1 and chosen == fitted:
                section.add("note", tone="warn", text=(
                    f"K = {_label(chosen)} is the largest number of classes fitted, so BIC may still fall with more "
                    "classes: widen the spec's classes range before settling on it."
                ))
        elif isinstance(selection, pd.DataFrame) and not selection.empty:
            section.add("note", tone="warn", text="No K could be chosen: every solution is degenerate, failed, or lacks a BIC.")
        if isinstance(curves, pd.DataFrame) and not curves.empty and {"K", "class", "time", "fitted"} <= set(curves.columns):
            panels = []
            size_lookup = {(r["K"], r["class"]): r["n"] for _, r in sizes.iterrows()}
            for k, part in curves.groupby("K", sort=True):
                class_list = []
                for c, cpart in part.groupby("class", sort=True):
                    cpart = cpart.sort_values("time", kind="stable")
                    observed_col = next((col for col in ("observed", "observed_mean") if col in cpart), None)
                    observed = None
                    if observed_col is not None:
                        observed = pd.to_numeric(cpart[observed_col], errors="coerce").to_numpy(dtype=float)
                        if "n_observed" in cpart:  # a mean of a handful of people is not drawn
                            few = pd.to_numeric(cpart["n_observed"], errors="coerce").to_numpy(dtype=float) < self.min_cell
                            observed = np.where(few, np.nan, observed)
                    n = size_lookup.get((k, c))
                    share = "" if n is None else (f" (n {self.count(n)})" if is_suppressed(n, self.min_cell)
                                                  else f" ({format_share(n, totals.get(k, 0), self.min_cell, 0)})")
                    label = labels.get((k, c), "")
                    class_list.append({
                        "label": f"{_label(c)}{': ' + label if label else ''}{share}",
                        "time": pd.to_numeric(cpart["time"], errors="coerce").to_numpy(dtype=float),
                        "fitted": pd.to_numeric(cpart["fitted"], errors="coerce").to_numpy(dtype=float),
                        "observed": observed,
                    })
                panels.append({"title": f"K = {_label(k)}{' (chosen)' if chosen is not None and k == chosen else ''}",
                               "chosen": chosen is not None and k == chosen, "classes": class_list})
            variable = spec.get("variable", "P")
            fig = fg.trajectory_panels(panels, "wave" if spec.get("time", "wave") == "wave" else "time", str(variable))
            section.add("figure", figure=self.figure(
                fig, alt=f"Estimated mean curves per class for each number of classes of trajectory spec {name}.",
                caption=("Estimated class mean curves (lines) and observed class means (open circles; not drawn where fewer "
                         f"than {self.min_cell} observations) for every K fitted; the chosen K is framed. Legends give each "
                         "class's label and share of participants."),
            ))
        if not sizes.empty:
            rows, classes_ = [], []
            for _, r in sizes.iterrows():
                k, c, n = r["K"], r["class"], r["n"]
                rows.append([_label(k), _label(c), labels.get((k, c), DASH) or DASH, self.count(n),
                             format_share(n, totals.get(k, 0), self.min_cell),
                             DASH if is_suppressed(n, self.min_cell) else format_number(avepp.get((k, c), np.nan))])
                classes_.append("chosen" if chosen is not None and k == chosen else "")
            section.add("table", table=Table(
                ["K", "class", "label", "n", "share", "mean posterior (AvePP)"], rows,
                caption="Class sizes, labels and average posterior probability of the assigned class, for every K (chosen K highlighted).",
                numeric=[False, False, False, True, True, True], row_classes=classes_,
            ))
        self.grolts_facts["trajectory_results"] = True

    def _selection_table(self, section: Section, selection: pd.DataFrame, totals: Mapping[Any, int]) -> Any:
        selection = selection.sort_values("K", kind="stable").reset_index(drop=True)
        ok = pd.Series(True, index=selection.index)
        if "status" in selection:
            ok &= selection["status"].astype("str").str.lower() != "failed"
        if "error" in selection:
            ok &= selection["error"].fillna("").astype("str").str.strip() == ""
        degenerate = _bool_series(selection["degenerate"]) if "degenerate" in selection else pd.Series(False, index=selection.index)
        converged = selection["converged"].map(_as_bool) if "converged" in selection else pd.Series(None, index=selection.index)
        bic = pd.to_numeric(selection["bic"], errors="coerce") if "bic" in selection else pd.Series(np.nan, index=selection.index)
        candidates = selection[ok & ~degenerate & bic.notna()]
        chosen = None
        if not candidates.empty:
            chosen = candidates.assign(_bic=bic[candidates.index]).sort_values(["_bic", "K"], kind="stable")["K"].iloc[0]
        if "entropy" in selection:
            self.grolts_facts["entropy"] = True
        if any(("start" in c.lower() and ("share" in c.lower() or "best" in c.lower())) for c in selection.columns):
            self.grolts_facts["starts_share"] = True
        preferred = ["K", "loglik", "npm", "aic", "bic", "sabic", "caic", "icl", "entropy", "smallest_class_size",
                     "smallest_class_share", "class_sizes", "appa_min", "occ_min", "converged", "degenerate",
                     "degenerate_reason", "poorly_separated", "n_starts", "n_starts_at_best"]
        present = [c for c in selection.columns if c not in {"status", "reason", "error"}]
        columns = [c for c in preferred if c in present] + [c for c in present if c not in preferred]
        rows, classes = [], []
        for index, r in selection.iterrows():
            k = r["K"]
            total = totals.get(k, self.n_participants)
            cells = []
            for c in columns:
                value = r[c]
                lowered = c.lower()
                if c == "K":
                    cells.append(_label(value))
                elif lowered == "class_sizes" or (isinstance(value, str) and re.fullmatch(r"\d+(/\d+)+", value)):
                    cells.append("/".join(self.count(int(part)) for part in str(value).split("/")))
                elif "share" in lowered or "prop" in lowered or "weight" in lowered:
                    try:
                        count = float(value) * float(total)
                    except (TypeError, ValueError):
                        count = math.nan
                    cells.append(format_share(count, total, self.min_cell) if not (isinstance(value, float) and math.isnan(value)) else DASH)
                elif is_count_name(c) or lowered.endswith("size") or lowered.startswith("smallest_n"):
                    cells.append(self.count(value) if not isinstance(value, str) else value)
                elif lowered == "p" or lowered.endswith("_p") or lowered.startswith("p_"):
                    cells.append(format_p(value))
                elif lowered.endswith("replicates"):  # bootstrap replicates fitted: a whole number, not people
                    cells.append(DASH if value is None or (isinstance(value, float) and math.isnan(value)) else str(int(value)))
                elif c in {"degenerate", "converged", "poorly_separated"}:
                    flag = _as_bool(value)
                    cells.append(DASH if flag is None else "yes" if flag else "no")
                elif isinstance(value, str):
                    cells.append(scrub_counts(value, self.min_cell) or DASH)
                else:
                    cells.append(format_number(value, 2) if isinstance(value, (float, np.floating)) else format_number(value))
            notes = []
            if not ok[index]:
                why = next((str(r[c]) for c in ("reason", "error") if c in selection and str(r[c]) not in ("", "nan")), "")
                notes.append("failed" + (f": {scrub_counts(why, self.min_cell)}" if why else ""))
            if degenerate[index]:
                notes.append("degenerate")
            if converged[index] is False:
                notes.append("not converged")
            if chosen is not None and k == chosen:
                notes.append("chosen")
            cells.append("; ".join(notes) or DASH)
            rows.append(cells)
            classes.append("chosen" if chosen is not None and k == chosen else "degenerate" if degenerate[index] or not ok[index] else "")
        section.add("table", table=Table(
            [humanize(c) if c != "K" else "K" for c in columns] + ["note"], rows,
            caption=("Model selection: one row per number of classes K. Lower AIC/BIC/SABIC is better; entropy near 1 means "
                     "clear classification. Degenerate solutions (a class too small or a collapsed variance) are flagged and never chosen."),
            numeric=[True] * len(columns) + [False], row_classes=classes,
        ))
        return chosen

    # ---------------------------------------------------------------- GRoLTS, methods, footer
    def grolts_section(self) -> Section:
        """The 21 GRoLTS items, each marked by how far this report answers it."""
        section = Section("grolts", "GRoLTS checklist")
        rows = tx.grolts_rows(self.inputs.cohort_config, self.grolts_facts)
        section.add("p", text=(
            "The Guidelines for Reporting on Latent Trajectory Studies (van de Schoot et al., 2017), 21 items, paraphrased. "
            "Each item is marked by how far this report answers it given the configured analysis."
        ))
        counts = {mark: sum(r.mark == mark for r in rows) for mark in (tx.AUTO, tx.PARTLY, tx.AUTHOR, tx.NA)}
        section.add("p", text="; ".join(f"{mark}: {n}" for mark, n in counts.items()) + ".")
        section.add("grolts", rows=rows)
        return section

    def methods_section(self) -> Section:
        """The generated methods text and the references it cites."""
        section = Section("methods", "Methods")
        facts = dict(getattr(self, "facts_overview", {}))
        facts["excluded"] = getattr(self, "excluded_text", DASH)
        packages = _packages(self.inputs.provenance)
        paragraphs, used = tx.methods_paragraphs(self.inputs.cohort_config, facts, packages)
        for paragraph in paragraphs:
            section.add("p", text=paragraph)
        section.add("h3", text="References", id="references")
        references = sorted((tx.REFERENCES[k]["text"] for k in used), key=str.lower)
        section.add("references", items=references)
        return section

    def footer(self) -> dict:
        """Hashes, seed and package versions for the reproducibility footer."""
        provenance = dict(self.inputs.provenance or {})
        config_hash = provenance.get("config_sha256") or config_sha256(self.inputs.config_data)
        packages = _packages(provenance)
        return {
            "items": [
                ("Config SHA-256", config_hash),
                ("Input file", provenance.get("input_file") or getattr(getattr(self.inputs.cohort_config, "input", None), "name", DASH)),
                ("Input SHA-256", provenance.get("input_sha256") or DASH),
                ("Seed", str(self.seed)),
                ("srflow", packages.get("srflow", DASH)),
            ],
            "packages": sorted((k, str(v)) for k, v in packages.items() if k != "srflow"),
        }

    def sections(self) -> list[Section]:
        """Every section, in report order."""
        built = [self.overview(), self.validation(), self.scores_section(), self.sr_section(), self.mixed_section(),
                 self.trajectories_section()]
        built += [self.grolts_section(), self.methods_section()]
        return built


def _packages(provenance: Mapping[str, Any] | None) -> dict[str, str]:
    """Package versions from provenance ("packages" or "versions"), leaving out ones not installed."""
    provenance = provenance or {}
    packages = provenance.get("packages") or provenance.get("versions") or {}
    return {str(k): str(v) for k, v in packages.items() if v and str(v) != "not installed"}


def _entry_label(entry: Mapping[str, Any], index: int) -> str:
    """A line's label: {"wave": 2} -> "wave 2"; "all" -> "all"; else from wave/window keys."""
    label = entry.get("label")
    if isinstance(label, Mapping) and label:
        return " ".join(f"{k} {_label(v)}" for k, v in label.items())
    if label is not None and _is_scalar(label) and str(label) != "":
        return _label(label)
    return next((f"{k} {_label(entry[k])}" for k in ("wave", "window", "group", "name") if k in entry), f"line {index + 1}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_quantiles(entry: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray] | None:
    """Find residual quantiles in a line entry, in any of a few plausible layouts."""
    for key in ("residual_qq", "qq", "residual_quantiles", "quantiles"):
        value = entry.get(key)
        if value is None:
            continue
        theoretical = sample = None
        if isinstance(value, Mapping):
            lower = {str(k).lower(): v for k, v in value.items()}
            t = next((lower[k] for k in ("theoretical", "normal", "expected", "x") if k in lower), None)
            s = next((lower[k] for k in ("sample", "observed", "residual", "residuals", "empirical", "values", "y", "quantiles") if k in lower), None)
            p = next((lower[k] for k in ("probabilities", "probs", "p", "levels") if k in lower), None)
            if t is not None and s is not None:
                theoretical, sample = t, s
            elif p is not None and s is not None:
                theoretical, sample = special.ndtri(np.asarray(p, float)), s
            elif value and all(_is_number(str(k)) for k in value):
                probs = np.array([float(k) for k in value], float)
                theoretical, sample = special.ndtri(probs), list(value.values())
        elif isinstance(value, list) and value:
            if all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
                theoretical, sample = [v[0] for v in value], [v[1] for v in value]
            elif all(isinstance(v, Mapping) for v in value):
                t_key = next((k for k in ("theoretical", "normal", "expected") if k in value[0]), None)
                s_key = next((k for k in ("sample", "observed", "residual", "value", "quantile") if k in value[0]), None)
                p_key = next((k for k in ("p", "prob", "probability", "level") if k in value[0]), None)
                if s_key and t_key:
                    theoretical, sample = [v[t_key] for v in value], [v[s_key] for v in value]
                elif s_key and p_key:
                    theoretical, sample = special.ndtri(np.array([v[p_key] for v in value], float)), [v[s_key] for v in value]
            elif all(_is_scalar(v) for v in value):
                sample = np.sort(np.asarray(value, float))
                n = sample.size
                theoretical = special.ndtri((np.arange(1, n + 1) - 0.5) / n)
        if theoretical is None or sample is None:
            continue
        t = np.asarray(theoretical, float)
        s = np.asarray(sample, float)
        if t.shape != s.shape:
            continue
        keep = np.isfinite(t) & np.isfinite(s)
        if keep.sum() >= 3:
            return t[keep], s[keep]
    return None


def _diagnostic_words(fit: Mapping[str, Any]) -> list[str]:
    """Convergence and singularity in plain sentences."""
    words = []
    optimizer = fit.get("optimizer", fit.get("optimiser"))
    converged = _as_bool(fit.get("converged"))
    gradient = fit.get("gradient_norm")
    gradient_text = f" (gradient norm {format_number(gradient)})" if _is_scalar(gradient) and gradient is not None else ""
    opt_text = f" ({optimizer})" if optimizer else ""
    if converged is True:
        words.append(f"The optimiser{opt_text} converged{gradient_text}.")
    elif converged is False:
        words.append(f"The optimiser{opt_text} did not meet its convergence criterion{gradient_text}; treat the estimates with "
                     "caution or simplify the model.")
    else:
        words.append("Convergence was not reported.")
    singular = _as_bool(fit.get("singular"))
    if singular is True:
        words.append("The fit is singular: a variance component is estimated near zero or a correlation at ±1, so the random "
                     "part is richer than the data support; consider dropping a random slope.")
    elif singular is False:
        words.append("The fit is not singular.")
    return words


def _variance_table(vc: Any) -> Table | None:
    if isinstance(vc, list) and vc and all(isinstance(v, Mapping) for v in vc):
        keys: list[str] = []
        for item in vc:
            keys += [k for k in item if k not in keys and _is_scalar(item[k])]
        return Table([humanize(k) for k in keys], [[format_number(item.get(k)) for k in keys] for item in vc],
                     numeric=[not isinstance(vc[0].get(k), str) for k in keys])
    if isinstance(vc, Mapping) and vc:
        # e.g. {"sd": {"Intercept": .., "E": ..}, "corr": {"Intercept:E": ..}, "residual_sd": ..}
        items = _scalar_items(vc, set())
        if items:
            return Table(["component", "value"], [[humanize(k), format_number(v)] for k, v in items], numeric=[False, True])
    return None


def _p_clause(p: Any) -> str:
    """'= 0.027' or '< 0.001', to follow the letter p in a sentence."""
    text = format_p(p)
    return f"< {text[1:]}" if text.startswith("<") else f"= {text}"
