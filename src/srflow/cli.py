"""The ``srflow`` command: make synthetic cohorts, check a config and its data, start a config,
classify participants with a stored trajectory fit.

Data and config problems are printed as plain messages (no traceback) with exit status 1;
usage errors (argparse) exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from srflow import __version__
from srflow.errors import SrflowError


def _synth(args: argparse.Namespace) -> int:
    from srflow.synthetic import write_cohort

    written = write_cohort(
        args.out,
        participants=args.participants,
        waves=args.waves,
        seed=args.seed,
        messy=not args.no_messy,
    )
    for name, path in sorted(written.items()):
        print(f"{name:>14}: {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    import warnings

    from srflow.config import load_config
    from srflow.errors import DataWarning
    from srflow.stages import check_cohort

    warnings.simplefilter("ignore", DataWarning)  # each one is printed as a note of its cohort

    config = load_config(args.config)
    names = [args.cohort] if args.cohort else list(config.cohorts)
    failed = False
    for name in names:
        cohort = config.cohort(name)
        try:
            report = check_cohort(cohort, failures_out=args.failures)
        except SrflowError as error:  # one cohort's problem must not hide the others'
            print(f"cohort {name}: {cohort.input}", flush=True)
            print(f"srflow: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            failed = True
            continue
        print(report.text, flush=True)
        failed = failed or not report.ok
    return 1 if failed else 0


def _init(args: argparse.Namespace) -> int:
    from srflow.starter import starter_config

    text = starter_config(Path(args.input), cohort_name=args.cohort)
    if args.out:
        out = Path(args.out)
        if out.exists() and not args.force:
            raise SrflowError(f"{out} exists; choose another --out or add --force to overwrite it")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        print(
            f"wrote {out}; review every line marked CHECK, then run: srflow validate --config {out}"
        )
    else:
        sys.stdout.write(text)
    return 0


def _config_reference(args: argparse.Namespace) -> int:
    from srflow.config import schema_reference

    sys.stdout.write(schema_reference())
    return 0


def _classify(args: argparse.Namespace) -> int:
    """Posteriors of new participants under a stored fit; bad input exits 1 with one line."""
    from srflow.errors import InputError
    from srflow.io import read_raw
    from srflow.tables import write_table
    from srflow.trajectories.classify import TrajectoryClassifier

    try:
        model = TrajectoryClassifier.from_fit(args.fit)
        source = Path(args.input)
        if not source.is_file():
            raise InputError(f"--input {source}: no such file")
        table, _ = read_raw(source)
        for option, column, target in (
            ("--participant", args.participant, model.participant),
            ("--score", args.score, model.score_column),
        ):
            if column is None or column == target:
                continue
            if column not in table.columns:
                raise InputError(f"{source}: no column '{column}' (given as {option})")
            table = table.drop(columns=[target], errors="ignore").rename(columns={column: target})
        posteriors = model.posterior_table(model.series_from_scores(table, source=str(source)))
    except SrflowError as error:
        message = " ".join(str(error).split())
        print(f"srflow classify: {type(error).__name__}: {message}", file=sys.stderr)
        return 1
    for note in model.notes:
        print(f"srflow classify: note: {note}", file=sys.stderr)
    if args.output is None:
        posteriors.to_csv(sys.stdout, index=False, lineterminator="\n")
        return 0
    write_table(posteriors, args.output)
    sizes = posteriors["class"].value_counts().reindex(range(1, model.n_classes + 1), fill_value=0)
    unclassified = int(posteriors["class"].isna().sum())
    print(
        f"wrote {args.output}: {len(posteriors)} participants"
        + (f" ({unclassified} without a class)" if unclassified else "")
        + ", class sizes "
        + "/".join(map(str, sizes.tolist()))
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``srflow`` command."""
    parser = argparse.ArgumentParser(
        prog="srflow", description="Stressor-reactivity resilience pipeline tools."
    )
    parser.add_argument("--version", action="version", version=f"srflow {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    synth = commands.add_parser(
        "synth", help="simulate a cohort with known ground truth (and messy variants)"
    )
    synth.add_argument(
        "--participants", type=int, default=400, help="number of participants (default 400)"
    )
    synth.add_argument("--waves", type=int, default=8, help="number of waves (default 8)")
    synth.add_argument("--seed", type=int, default=20261121, help="random seed (default 20261121)")
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument(
        "--no-messy", action="store_true", help="skip the messy variants used by the tests"
    )
    synth.set_defaults(func=_synth)

    validate = commands.add_parser(
        "validate", help="check a config and validate its cohorts' data; exit 1 on failure"
    )
    validate.add_argument("--config", required=True, help="config YAML file")
    validate.add_argument("--cohort", help="only this cohort (default: every cohort)")
    validate.add_argument("--failures", help="also write every failure to this CSV file")
    validate.set_defaults(func=_validate)

    init = commands.add_parser(
        "init", help="write a starter config for a data file, guessing columns and instruments"
    )
    init.add_argument(
        "--input", required=True, help="raw data file (.csv .tsv .parquet .sav .dta .xlsx)"
    )
    init.add_argument("--cohort", default="mystudy", help="cohort name (default mystudy)")
    init.add_argument("--out", help="write the config here (default: print it)")
    init.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    init.set_defaults(func=_init)

    classify = commands.add_parser(
        "classify",
        help="posterior trajectory classes of (new) participants under a stored fit; exit 1 on bad input",
    )
    classify.add_argument(
        "--fit",
        required=True,
        help="a fit file, results/<cohort>/trajectories/<name>/fits/K<k>.json",
    )
    classify.add_argument(
        "--input",
        required=True,
        help="scores table (the pipeline's scores.parquet/.csv, or any file srflow reads) with "
        "participant_id, wave, the fit's score column (and time / the anchor column if the fit uses them)",
    )
    classify.add_argument(
        "--output", help="CSV of participant_id, class, label, post_1..post_K (default: print it)"
    )
    classify.add_argument(
        "--participant", help="the input's participant column (default participant_id)"
    )
    classify.add_argument(
        "--score", help="the input's column holding the fit's score (default: its name)"
    )
    classify.set_defaults(func=_classify)

    reference = commands.add_parser(
        "config-reference", help="print every config key with type, default and meaning"
    )
    reference.set_defaults(func=_config_reference)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``srflow`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SrflowError as error:
        print(f"srflow: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a path the user gave cannot be written (or read): not a bug
        where = f": {error.filename}" if error.filename else ""
        print(f"srflow: {error.strerror or error}{where}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
