"""Provenance for the report's footer: config and input hashes, seed and package versions."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
PROVENANCE_PACKAGES = (
    "srflow",
    "numpy",
    "pandas",
    "scipy",
    "statsmodels",
    "scikit-learn",
    "pandera",
    "pyarrow",
    "matplotlib",
    "jinja2",
    "snakemake",
)


def collect_provenance(
    config_data: Mapping[str, Any], input_path: str | Path | None, seed: int | None = None
) -> dict:
    """Provenance for the footer: config and input hashes, input file name, seed, versions.

    Parameters
    ----------
    config_data : Mapping
        The validated config mapping.
    input_path : str or Path or None
        The cohort's raw input file (hashed if it exists).
    seed : int, optional
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
