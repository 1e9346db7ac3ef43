# Config validation, getters and target lists. The only place with Python helpers for the rules.
import copy
import hashlib
import re
import sys

from snakemake.utils import validate

from srflow.config import SHARED_BLOCKS, canonical_json, load_config
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


def settings_digest(data):
    """A short digest of config settings, given as a rule param so that editing them reruns the job."""
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]


def data_settings(wildcards):
    """What ingest, validate and score depend on: the cohort's config without the analysis blocks."""
    cohort = SRFLOW.data["cohorts"][wildcards.cohort]
    return settings_digest({k: v for k, v in cohort.items() if k not in SHARED_BLOCKS})


def sr_settings(wildcards):
    return settings_digest(SRFLOW.cohort(wildcards.cohort).sr[wildcards.spec])


def mixed_sr_specs(cohort, model):
    """Names of the SR specs the model (or the model it is compared to) names."""
    from srflow.variables import GrammarError, parse_term

    models = SRFLOW.cohort(cohort).mixed_models
    names = set()
    for name in (model, models[model].get("compare_to")):
        spec = models[name] if name else {}
        terms = [*spec.get("fixed", []), *spec.get("random", [])]
        for text in [spec.get("outcome", "P"), *terms]:
            try:
                factors = parse_term(text).factors
            except GrammarError:
                continue  # reported by the config check
            names |= {f.base.name for f in factors if f.base.kind != "column"}
    return sorted(names)


def mixed_settings(wildcards):
    """The model, the model it is compared to, and the SR specs either names."""
    cohort = SRFLOW.cohort(wildcards.cohort)
    spec = cohort.mixed_models[wildcards.model]
    other = spec.get("compare_to")
    used = mixed_sr_specs(wildcards.cohort, wildcards.model)
    return settings_digest(
        [
            spec,
            cohort.mixed_models.get(other) if other else None,
            {name: cohort.sr[name] for name in used},
        ]
    )


def mixed_inputs(wildcards):
    """Scores, and the SR table and line of every SR spec the model names."""
    cohort = wildcards.cohort
    specs = mixed_sr_specs(cohort, wildcards.model)
    return {
        "scores": f"results/{cohort}/scores.parquet",
        "sr": [f"results/{cohort}/sr/{spec}.csv" for spec in specs],
        "sr_lines": [f"results/{cohort}/sr/{spec}.line.json" for spec in specs],
    }


def regression_spec(cohort, name):
    from srflow.config import RegressionSpec

    return RegressionSpec.from_config(name, SRFLOW.cohort(cohort).regressions[name])


def regression_settings(wildcards):
    spec = SRFLOW.cohort(wildcards.cohort).regressions[wildcards.name]
    return settings_digest(spec)


def regression_inputs(wildcards):
    """Scores, and the SR table and line of every SR spec the regression names."""
    cohort = wildcards.cohort
    specs = regression_spec(cohort, wildcards.name).sr_specs()
    return {
        "scores": f"results/{cohort}/scores.parquet",
        "sr": [f"results/{cohort}/sr/{spec}.csv" for spec in specs],
        "sr_lines": [f"results/{cohort}/sr/{spec}.line.json" for spec in specs],
    }


def regression_outputs(cohort):
    return expand(
        "results/{cohort}/regressions/{name}.{ext}",
        cohort=cohort,
        name=sorted(SRFLOW.cohort(cohort).regressions),
        ext=["coefficients.csv", "fit.json"],
    )


def report_settings(wildcards):
    """The report describes the whole cohort config (methods paragraph, GRoLTS marks)."""
    cohort = SRFLOW.cohort(wildcards.cohort)
    blocks = {block: getattr(cohort, block) for block in SHARED_BLOCKS}
    return settings_digest(
        [SRFLOW.data["cohorts"][wildcards.cohort], blocks, SRFLOW.seed]
    )


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
        ext=["fixed.csv", "anova.csv", "fit.json", "random.csv"],
    )


def trajectory_outputs(cohort):
    specs = SRFLOW.cohort(cohort).trajectories
    outputs = expand(
        "results/{cohort}/trajectories/{name}/{table}.csv",
        cohort=cohort,
        name=sorted(specs),
        table=["selection", "classes", "curves", "classification"],
    )
    anchored = [name for name in sorted(specs) if specs[name].get("anchor")]
    outputs += [
        f"results/{cohort}/trajectories/{name}/anchors.csv" for name in anchored
    ]
    outputs += [
        f"results/{cohort}/trajectories/{name}/predictors.csv"
        for name in sorted(specs)
        if specs[name].get("predictors")
    ]
    outputs += [
        f"results/{cohort}/trajectories/{name}/distal.csv"
        for name in sorted(specs)
        if specs[name].get("distal")
    ]
    return outputs


def trajectory_k_values(cohort, name):
    low, high = SRFLOW.cohort(cohort).trajectories[name]["classes"]
    return list(range(low, high + 1))


def report_inputs(wildcards):
    """Everything the report of a cohort reads: it reads these files and no others."""
    cohort = wildcards.cohort
    return {
        "scores": f"results/{cohort}/scores.parquet",
        "ledger": f"results/{cohort}/validation/ledger.csv",
        "failures": f"results/{cohort}/validation/failures.csv",
        "scoring": f"results/{cohort}/scoring.json",
        "reliability": f"results/{cohort}/reliability.csv",
        "attrition": f"results/{cohort}/attrition.csv",
        "attrition_fit": f"results/{cohort}/attrition.json",
        "sr": sr_outputs(cohort),
        "mixed": mixed_outputs(cohort),
        "trajectories": trajectory_outputs(cohort),
        "regressions": regression_outputs(cohort),
    }


def all_targets():
    targets = []
    for cohort in COHORTS:
        targets += [
            f"results/{cohort}/report.html",
            f"results/{cohort}/scores.csv",
            f"results/{cohort}/validated.parquet",
        ]
        targets += score_outputs(cohort)
        targets += (
            sr_outputs(cohort) + mixed_outputs(cohort) + trajectory_outputs(cohort)
        )
        targets += regression_outputs(cohort)
        targets += report_figures(cohort)
    return targets


def score_outputs(cohort):
    """What the score job writes beside the scores table: how P and E were made, reliability, attrition."""
    return [
        f"results/{cohort}/{name}"
        for name in (
            "scoring.json",
            "reliability.csv",
            "attrition.csv",
            "attrition.json",
        )
    ]


def report_figures(cohort):
    """Figures flagged for `snakemake --report` (each is a target of rule all)."""
    return [
        f"results/{cohort}/figures/overview.svg",
        f"results/{cohort}/figures/scores.svg",
    ]


def trajectory_spec(cohort, name):
    """The trajectory spec (defaults filled) as a plain dict, passed to jobs as a param."""
    try:
        spec = SRFLOW.cohort(cohort).trajectories[name]
    except KeyError:
        known = ", ".join(sorted(SRFLOW.cohort(cohort).trajectories))
        raise ValueError(
            f"no trajectory spec '{name}' for cohort '{cohort}' (specs: {known})"
        ) from None
    return copy.deepcopy(dict(spec))


def trajectory_series_file(cohort, name):
    """The series a spec's fits read: aligned on the stressor event when the spec has an anchor."""
    table = (
        "series_anchored" if trajectory_spec(cohort, name).get("anchor") else "series"
    )
    return f"results/{cohort}/trajectories/{name}/{table}.parquet"


def trajectory_score_columns(cohort):
    """Columns of the scores table: P, E, instrument scores and covariates."""
    settings = SRFLOW.cohort(cohort)
    return {"P", "E", *settings.instruments, *settings.columns.covariates}


def trajectory_series_inputs(wildcards):
    """Scores, plus the SR table for variable "sr:<spec>" and the validated table for an item anchor."""
    cohort, name = wildcards.cohort, wildcards.name
    spec = trajectory_spec(cohort, name)
    inputs = {"scores": f"results/{cohort}/scores.parquet"}
    variable = spec["variable"]
    if variable.startswith("sr:"):  # the config check guarantees a per-wave SR spec
        sr_name = variable[3:]
        inputs["sr"] = f"results/{cohort}/sr/{sr_name}.csv"
    anchor = spec.get("anchor")
    if anchor and anchor["column"] not in trajectory_score_columns(cohort):
        inputs["validated"] = f"results/{cohort}/validated.parquet"
    return inputs


def trajectory_bootstrap_files(cohort, name):
    """Bootstrap replicate files of a spec: K >= 2 in its range, replicates 0 .. B-1."""
    spec = trajectory_spec(cohort, name)
    replicates = int(spec.get("bootstrap", 0))
    if replicates == 0:
        return []
    return expand(
        "results/{cohort}/trajectories/{name}/bootstrap/K{k}.rep{rep}.json",
        cohort=cohort,
        name=name,
        k=[k for k in trajectory_k_values(cohort, name) if k >= 2],
        rep=range(replicates),
    )


def trajectory_select_inputs(wildcards):
    """Everything select_trajectories gathers for one spec."""
    cohort, name = wildcards.cohort, wildcards.name
    ks = trajectory_k_values(cohort, name)
    inputs = {
        "fits": expand(
            "results/{c}/trajectories/{n}/fits/K{k}.json", c=cohort, n=name, k=ks
        ),
        "classes": expand(
            "results/{c}/trajectories/{n}/fits/K{k}.classes.parquet",
            c=cohort,
            n=name,
            k=ks,
        ),
        "bootstrap": trajectory_bootstrap_files(cohort, name),
    }
    if trajectory_spec(cohort, name).get("anchor"):
        inputs["anchors"] = f"results/{cohort}/trajectories/{name}/anchors.csv"
    return inputs
