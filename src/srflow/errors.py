"""srflow's own exception and warning classes.

Every message says what went wrong and what to do about it; the CLI and the
workflow scripts print these without a traceback.
"""


class SrflowError(Exception):
    """Base class of every error srflow raises on purpose."""


class ConfigError(SrflowError):
    """The configuration is invalid: names the key, the value and what is allowed."""


class InputError(SrflowError):
    """An input file cannot be read or does not have the expected shape."""


class ValidationError(SrflowError):
    """The data broke validation rules and the policy is ``on_invalid: fail``."""


class ModelError(SrflowError):
    """A model cannot be fitted to these data (too few units, constant predictor, ...)."""


class SrflowWarning(UserWarning):
    """Base class of srflow's warnings."""


class ConvergenceWarning(SrflowWarning):
    """An optimiser stopped without meeting its convergence criterion."""


class DataWarning(SrflowWarning):
    """Something in the data was handled in a way the user should know about."""
