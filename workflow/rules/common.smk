# Config validation, getters and target lists. The only place with Python helpers for the rules.
import re
import sys

from snakemake.utils import validate

from srflow.config import load_config
from srflow.errors import ConfigError

# srflow's own check first: its messages name the key, the value and what is allowed
# (printed as they are: a config mistake is the user's to fix, not a crash).
try:
    SRFLOW = load_config(config)
except ConfigError as error:
    sys.exit(f"srflow: {error}")


validate(config, schema="../schemas/config.schema.yaml")


COHORTS = sorted(SRFLOW.cohorts)


wildcard_constraints:
    cohort="|".join(re.escape(name) for name in COHORTS),
    spec="[A-Za-z][A-Za-z0-9_]*",
    model="[A-Za-z][A-Za-z0-9_]*",
    name="[A-Za-z][A-Za-z0-9_]*",
    k="[0-9]+",


def cohort_input(wildcards):
    """The raw data file of a cohort."""
    return str(SRFLOW.cohort(wildcards.cohort).input)


def mem_for_input(factor, floor=1000):
    """Memory request that grows with the input size (MB of input times a factor)."""

    def request(wildcards, input):
        return max(floor, int(factor * input.size_mb))

    return request


def sr_outputs(cohort):
    specs = SRFLOW.cohort(cohort).sr
    return expand(
        "results/{cohort}/sr/{spec}.{ext}",
        cohort=cohort,
        spec=sorted(specs),
        ext=["csv", "line.json"],
    )


def mixed_outputs(cohort):
    models = SRFLOW.cohort(cohort).mixed_models
    return expand(
        "results/{cohort}/mixed/{model}.{ext}",
        cohort=cohort,
        model=sorted(models),
        ext=["fixed.csv", "fit.json", "random.csv"],
    )


def trajectory_outputs(cohort):
    specs = SRFLOW.cohort(cohort).trajectories
    return expand(
        "results/{cohort}/trajectories/{name}/{table}.csv",
        cohort=cohort,
        name=sorted(specs),
        table=["selection", "classes", "curves"],
    )


def trajectory_k_values(cohort, name):
    low, high = SRFLOW.cohort(cohort).trajectories[name]["classes"]
    return list(range(low, high + 1))


def report_inputs(wildcards):
    """Everything the report of a cohort gathers."""
    cohort = wildcards.cohort
    return {
        "scores": f"results/{cohort}/scores.parquet",
        "ledger": f"results/{cohort}/validation/ledger.csv",
        "failures": f"results/{cohort}/validation/failures.csv",
        "sr": sr_outputs(cohort),
        "mixed": mixed_outputs(cohort),
        "trajectories": trajectory_outputs(cohort),
    }


def all_targets():
    targets = []
    for cohort in COHORTS:
        targets += [
            f"results/{cohort}/report.html",
            f"results/{cohort}/scores.csv",
            f"results/{cohort}/validated.parquet",
        ]
        targets += (
            sr_outputs(cohort) + mixed_outputs(cohort) + trajectory_outputs(cohort)
        )
        targets += report_figures(cohort)
    return targets


def report_figures(cohort):
    """Figures flagged for `snakemake --report` (each is a target of rule all)."""
    return [
        f"results/{cohort}/figures/overview.svg",
        f"results/{cohort}/figures/scores.svg",
    ]
