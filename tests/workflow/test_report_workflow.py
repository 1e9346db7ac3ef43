"""End to end: the report shows exactly the specs of the config, read from the rule's inputs.

A spec removed from the config leaves its old files in results/, but it is no longer an input of
the report rule, so the rerun report does not show it. A result file that does not match its
contract stops the report job with a message naming the file and the rule to rerun.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")

pytestmark = pytest.mark.slow

SR_SPECS = {"per_wave": {"level": "wave"}, "person": {"level": "period", "min_waves": 2}}


def _config(workdir: Path, sr: dict) -> Path:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cohort = config["cohorts"]["synthetic"]
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {"small": cohort}
    config["sr"] = sr
    config["mixed_models"] = {"intercepts": {"outcome": "P", "fixed": ["E"], "random": []}}
    config["trajectories"] = {}
    config["regressions"] = {}  # the bundled rf_traits needs the SR spec 'person'
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _snakemake(workdir: Path, configfile: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        "--cores",
        "2",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def _sr_subsections(report: Path) -> list[str]:
    return re.findall(r"<h3[^>]*>SR spec: ([A-Za-z0-9_]+)</h3>", report.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from srflow.synthetic import write_cohort

    workdir = tmp_path_factory.mktemp("report_run")
    write_cohort(workdir / "data", participants=60, waves=4, seed=5, messy=False)
    done = _snakemake(workdir, _config(workdir, SR_SPECS))
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def test_removing_a_spec_removes_it_from_the_report(workdir):
    report = workdir / "results" / "small" / "report.html"
    assert _sr_subsections(report) == ["per_wave", "person"]
    done = _snakemake(workdir, _config(workdir, {"per_wave": SR_SPECS["per_wave"]}))
    assert done.returncode == 0, done.stderr[-4000:]
    assert (
        workdir / "results" / "small" / "sr" / "person.line.json"
    ).is_file()  # the stale files stay on disk
    assert _sr_subsections(report) == ["per_wave"]
    html = report.read_text(encoding="utf-8")
    assert (
        'id="sr-person"' not in html and "SR spec 'person'" not in html
    )  # nor in the methods text


def test_a_file_off_contract_stops_the_report_naming_file_and_rule(workdir):
    configfile = _config(workdir, {"per_wave": SR_SPECS["per_wave"]})
    line_path = workdir / "results" / "small" / "sr" / "per_wave.line.json"
    line = json.loads(line_path.read_text())
    line["per_group"] = line.pop("lines")  # a key no writer produces
    line_path.write_text(json.dumps(line))
    done = _snakemake(workdir, configfile, "--forcerun", "report")
    assert done.returncode != 0
    log = (workdir / "logs" / "report" / "small.log").read_text()
    assert "ResultContractError" in log and "sr/per_wave.line.json" in log
    assert "unknown key(s) ['per_group']" in log and "rerun rule 'sr_scores'" in log
    assert "Traceback" not in log
