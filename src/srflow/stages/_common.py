"""Shared helpers of the stage modules."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from srflow.config import CohortConfig


def say(message: str) -> None:
    """Write a progress line to stderr (the rule's log under Snakemake)."""
    print(message, file=sys.stderr, flush=True)


def cohort_config(config_data: Mapping[str, Any], cohort_name: str) -> CohortConfig:
    """The typed config of one cohort, from the (possibly default-filled) config mapping."""
    from srflow.config import load_config

    return load_config(config_data).cohort(cohort_name)


def _mkparent(*paths: str | Path) -> None:
    for path in paths:
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def run_logged(log_path: str | Path, stage, /, **kwargs: Any) -> None:
    """Run a stage with stderr sent to ``log_path``; srflow errors end the job without a traceback.

    A data or config problem is the user's to fix, so its message (which names the file,
    row, column, value and rule) goes to the log and to the console, and the process
    exits with status 1. Anything else is a bug and keeps its traceback.
    """
    from srflow.errors import SrflowError

    _mkparent(log_path)
    console = sys.stderr
    with open(log_path, "w", encoding="utf-8", buffering=1) as log:
        sys.stderr = log
        try:
            stage(**kwargs)
        except SrflowError as error:
            text = f"srflow: {type(error).__name__}: {error}"
            print(text, file=log)
            print(text, file=console)
            sys.exit(1)
        finally:
            sys.stderr = console


def job_seed(config_seed: int, *identity: str) -> int:
    """A seed from the config's seed and a job's identity (never from the order jobs run in)."""
    keys = [int(config_seed)] + [zlib.crc32(part.encode("utf-8")) for part in identity]
    return int(np.random.SeedSequence(keys).generate_state(1)[0])
