"""srflow: stressor-reactivity resilience scores for longitudinal cohort data."""

__version__ = "0.1.0"
