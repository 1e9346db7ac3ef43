"""Failure and resume: an interrupted workflow, resumed, gives exactly the results of an uninterrupted run.

Known answer: the results/ folder of an uninterrupted local run of the same config and synthetic
cohort (srflow.synthetic.write_cohort(participants=60, waves=4, seed=5, messy=False)). The resumed
run must match it byte for byte (sha256 of every file, compared by ci/compare_runs.sh).

- Locally: Ctrl-C (SIGINT to Snakemake's process group, as a terminal sends it) while a job after
  scoring runs; Snakemake must report the interruption, leave no output of the killed job looking
  complete, and `--rerun-incomplete` must finish the run without redoing the jobs that had finished.
- On SLURM (only when a cluster answers, e.g. after `sudo bash ci/slurm/start.sh`): `scancel` of a
  running job, then a rerun with the same profiles.

The quick tests at the end check ci/compare_runs.sh and the SLURM profiles against hand-made cases.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
COMPARE_RUNS = ROOT / "ci" / "compare_runs.sh"
COHORT = "small"
# The interruption hits a job downstream of scoring, so that finished jobs exist whose outputs the
# resume must keep untouched.
UPSTREAM_RULE = "score"
UPSTREAM_OUTPUT = f"results/{COHORT}/scores.parquet"
SLURM_PROFILES = (
    "--profile",
    str(ROOT / "workflow/profiles/slurm"),
    "--profile",
    str(ROOT / "ci/slurm/profile"),
)
RUN_TIMEOUT = 900  # seconds for one whole run; SLURM adds ~10-20 s per job on 2 cores


# --- helpers ---------------------------------------------------------------------------------


def _make_workdir(workdir: Path) -> Path:
    """A working directory with the small synthetic cohort and a config that points at it."""
    from srflow.synthetic import write_cohort

    write_cohort(workdir / "data", participants=60, waves=4, seed=5, messy=False)
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    cohort = next(iter(config["cohorts"].values()))
    cohort["input"] = "data/cohort.csv"
    config["cohorts"] = {COHORT: cohort}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return workdir


def _command(workdir: Path, *extra: str) -> list[str]:
    return [
        str(SNAKEMAKE),
        "--snakefile",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(workdir / "config.yaml"),
        *extra,
    ]


def _run(workdir: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        _command(workdir, *extra), capture_output=True, text=True, timeout=RUN_TIMEOUT
    )


def _own_session_default_sigint() -> None:
    # Own session = own process group, so one signal reaches Snakemake and every job it started.
    # SIGINT back to default: a shell running CI in the background may have set it to ignored,
    # and an ignored SIGINT is inherited through exec.
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(workdir: Path, log: Path, *extra: str) -> subprocess.Popen:
    with open(log, "w") as handle:
        return subprocess.Popen(
            _command(workdir, *extra),
            stdout=handle,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_session_default_sigint,
        )


def _live_group_members(pgid: int) -> list[int]:
    """PIDs in process group pgid that are not zombies (PID 1 may be slow to reap orphans)."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat_file.parent.name))
    return members


def _kill_group(process: subprocess.Popen) -> None:
    if _live_group_members(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.wait(30)


def _marked_incomplete(workdir: Path) -> set[str]:
    """Outputs Snakemake has marked incomplete (a job started, not finished): .snakemake/incomplete/<base64 path>."""
    folder = workdir / ".snakemake" / "incomplete"
    if not folder.is_dir():
        return set()
    return {
        base64.b64decode(marker.name).decode() for marker in folder.iterdir() if marker.is_file()
    }


def _complete(workdir: Path, output: str) -> bool:
    return (workdir / output).exists() and output not in _marked_incomplete(workdir)


def _wait_for(
    condition, process: subprocess.Popen, log: Path, what: str, timeout: float = RUN_TIMEOUT
):
    """Poll condition() until it returns something truthy; fail if the run ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process.poll() is not None:
            pytest.fail(
                f"the run ended (exit {process.returncode}) before {what}:\n{log.read_text()[-4000:]}"
            )
        time.sleep(0.05)
    pytest.fail(f"no {what} within {timeout} s:\n{log.read_text()[-4000:]}")


def _listed_incomplete(workdir: Path) -> set[str]:
    """Files that a dry run without --rerun-incomplete refuses as incomplete."""
    dry = _run(workdir, "--dry-run", "--cores", "1")
    text = dry.stdout + dry.stderr
    if "Incomplete files:" not in text:
        return set()
    listed = text.split("Incomplete files:", 1)[1].splitlines()
    return {line.strip() for line in listed if line.strip().startswith("results/")}


def _result_mtimes(workdir: Path) -> dict[str, int]:
    marked = _marked_incomplete(workdir)
    return {
        str(path.relative_to(workdir)): path.stat().st_mtime_ns
        for path in sorted((workdir / "results").rglob("*"))
        if path.is_file() and str(path.relative_to(workdir)) not in marked
    }


def _assert_interrupted_outputs_not_complete(workdir: Path, running: set[str]) -> set[str]:
    """Outputs of the killed jobs are gone or still marked incomplete; returns them."""
    interrupted = {output for output in running if not _complete(workdir, output)}
    assert interrupted, f"every job running at the interruption finished anyway: {sorted(running)}"
    left_on_disk = {output for output in interrupted if (workdir / output).exists()}
    if left_on_disk:
        # a file that exists must be refused by Snakemake as incomplete, not taken as a result
        assert left_on_disk <= _listed_incomplete(workdir)
    return interrupted


def _assert_same_results(reference: Path, resumed: Path) -> None:
    compared = subprocess.run(
        ["bash", str(COMPARE_RUNS), str(reference / "results"), str(resumed / "results")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    n_files = sum(1 for path in (reference / "results").rglob("*") if path.is_file())
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert compared.stdout.splitlines()[-1].startswith(
        f"{n_files} files: {n_files} identical, 0 differ"
    )
    assert (reference / UPSTREAM_OUTPUT).is_file()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    """An uninterrupted local run: the known answer."""
    workdir = _make_workdir(tmp_path_factory.mktemp("reference"))
    done = _run(workdir, "--cores", "2")
    assert done.returncode == 0, done.stderr[-4000:]
    return workdir


def _slurm_up() -> bool:
    if (
        shutil.which("sinfo") is None
        or importlib.util.find_spec("snakemake_executor_plugin_slurm") is None
    ):
        return False
    try:
        answer = subprocess.run(
            ["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return False
    return answer.returncode == 0 and "up" in answer.stdout.split()


# --- end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_interrupted_local_run_resumes_to_identical_results(reference_run, tmp_path):
    workdir = _make_workdir(tmp_path / "run")
    log = tmp_path / "interrupted.log"
    process = _start(workdir, log, "--cores", "2")
    try:
        # the moment: scoring has finished and a downstream job is running
        running = _wait_for(
            lambda: _complete(workdir, UPSTREAM_OUTPUT) and _marked_incomplete(workdir),
            process,
            log,
            "job running after scoring",
        )
        os.killpg(process.pid, signal.SIGINT)
        returncode = process.wait(timeout=120)
        deadline = time.monotonic() + 30
        while _live_group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _live_group_members(process.pid) == [], "a job outlived the interrupted Snakemake"
    finally:
        _kill_group(process)

    output = log.read_text()
    assert returncode != 0
    assert "Terminating processes on user request" in output  # Snakemake's answer to Ctrl-C
    assert "Error in rule" in output
    _assert_interrupted_outputs_not_complete(workdir, running)

    finished = _result_mtimes(workdir)
    assert UPSTREAM_OUTPUT in finished
    resumed = _run(workdir, "--cores", "2", "--rerun-incomplete")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    # the resume redoes only what was missing: results finished before the interruption are untouched
    assert {path: _result_mtimes(workdir)[path] for path in finished} == finished
    _assert_same_results(reference_run, workdir)


@pytest.mark.slow
def test_cancelled_slurm_job_resumes_to_identical_results(request, tmp_path):
    # checked here, not at import: sinfo takes ~9 s to give up when no controller answers
    if not _slurm_up():
        pytest.skip(
            "no SLURM cluster (sudo bash ci/slurm/start.sh) or no snakemake-executor-plugin-slurm"
        )
    reference_run = request.getfixturevalue("reference_run")  # shared with the local test
    workdir = _make_workdir(tmp_path / "run")
    log = tmp_path / "cancelled.log"

    def running_downstream_job() -> str | None:
        if not _complete(workdir, UPSTREAM_OUTPUT):
            return None
        queue = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%Z"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
        for line in queue.splitlines():
            job_id, comment, job_workdir = line.split("|", 2)
            # the plugin puts "rule_<name>_wildcards_..." in the job's comment
            if Path(job_workdir).resolve() == workdir.resolve() and not comment.startswith(
                f"rule_{UPSTREAM_RULE}_"
            ):
                return job_id
        return None

    process = _start(workdir, log, *SLURM_PROFILES)
    try:
        job_id = _wait_for(running_downstream_job, process, log, "SLURM job running after scoring")
        running = _marked_incomplete(workdir)
        subprocess.run(["scancel", job_id], check=True, timeout=30)
        returncode = process.wait(timeout=RUN_TIMEOUT)
    finally:
        _kill_group(process)

    output = log.read_text()
    assert returncode != 0
    assert f"SLURM-job '{job_id}' failed, SLURM status is: 'CANCELLED'" in output
    _assert_interrupted_outputs_not_complete(workdir, running)

    resumed = _run(workdir, *SLURM_PROFILES)  # the profile sets rerun-incomplete
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    # every job ran as a SLURM batch job: the CI profile keeps each job's SLURM log
    assert list((workdir / ".snakemake" / "slurm_logs").glob(f"rule_{UPSTREAM_RULE}/**/*.log"))
    _assert_same_results(reference_run, workdir)


# --- quick checks of the CI tools ------------------------------------------------------------


def test_compare_runs_lists_every_difference_and_fails(tmp_path):
    left, right = tmp_path / "left", tmp_path / "right"
    for folder in (left, right):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "same.csv").write_text("a,b\n1,2\n")
    (left / "changed.json").write_text('{"x": 1}')
    (right / "changed.json").write_text('{"x": 2}')
    (left / "only left.txt").write_text("l")
    (right / "only_right.txt").write_text("r")

    differ = subprocess.run(
        ["bash", str(COMPARE_RUNS), str(left), str(right)], capture_output=True, text=True
    )
    assert differ.returncode == 1
    assert differ.stdout.splitlines() == [
        "differs: changed.json",
        f"only in {left}: only left.txt",
        f"only in {right}: only_right.txt",
        f"4 files: 1 identical, 1 differ, 1 only in {left}, 1 only in {right}",
    ]

    same = subprocess.run(
        ["bash", str(COMPARE_RUNS), str(left), str(left)], capture_output=True, text=True
    )
    assert same.returncode == 0
    assert same.stdout.splitlines() == [
        f"3 files: 3 identical, 0 differ, 0 only in {left}, 0 only in {left}"
    ]

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (
        subprocess.run(
            ["bash", str(COMPARE_RUNS), str(empty), str(empty)], capture_output=True
        ).returncode
        == 1
    )
    assert (
        subprocess.run(["bash", str(COMPARE_RUNS), str(left)], capture_output=True).returncode == 2
    )


def test_slurm_profiles_avoid_the_status_hang_and_match_the_ci_cluster():
    profile = yaml.safe_load((ROOT / "workflow/profiles/slurm/config.yaml").read_text())
    ci_profile = yaml.safe_load((ROOT / "ci/slurm/profile/config.yaml").read_text())
    start_script = (ROOT / "ci/slurm/start.sh").read_text()

    assert profile["executor"] == "slurm"
    # without slurmdbd the default status command (sacct) fails silently and Snakemake never ends
    assert profile["slurm-status-command"] == "squeue"
    assert profile["rerun-incomplete"] is True and profile["keep-going"] is True
    assert profile["default-resources"]["slurm_account"] == "<your account>"
    # MinJobAge must outlast the plugin's longest status poll (180 s) for squeue to see finished jobs
    assert int(re.search(r"^MinJobAge=(\d+)$", start_script, re.M).group(1)) > 180

    # the CI layer: the partition start.sh defines, no account, a cancelled job fails the run
    partition = re.search(r"^PARTITION=(\w+)", start_script, re.M).group(1)
    assert ci_profile["default-resources"]["slurm_partition"] == partition
    assert "slurm_account" not in ci_profile["default-resources"]
    assert ci_profile["retries"] == 0
    assert (
        "executor" not in ci_profile and "slurm-status-command" not in ci_profile
    )  # inherited, not forked
