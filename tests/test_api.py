"""Tests of the Python API of the srflow package (``import srflow``)."""

from __future__ import annotations

import subprocess
import sys

import srflow


def test_every_public_name_loads_from_its_module():
    assert set(srflow.__all__) == {"__version__", *srflow._EXPORTS}
    for name, module in srflow._EXPORTS.items():
        value = getattr(srflow, name)
        assert value is getattr(sys.modules[module], name)
        assert value.__doc__ and "Parameters" in value.__doc__, name  # numpydoc docstring
    assert set(srflow._EXPORTS) <= set(dir(srflow))


def test_unknown_name_is_an_attribute_error():
    try:
        srflow.no_such_function  # noqa: B018
    except AttributeError as exc:
        assert "no_such_function" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_import_is_lazy():
    # A fresh interpreter: importing srflow must not import the numeric stack or any stage.
    code = (
        "import sys, srflow; heavy = [m for m in ('numpy', 'pandas', 'scipy', 'typing', 'srflow.sr') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_submodules_stay_importable_next_to_the_lazy_names():
    from srflow import sr, synthetic

    assert sr.compute_sr is srflow.compute_sr
    assert synthetic.simulate_cohort is srflow.simulate_cohort
