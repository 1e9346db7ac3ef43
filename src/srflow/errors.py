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


#: Longest value a message quotes in full; longer ones are cut (a 100,000-character cell
#: must not flood a log or a terminal).
QUOTE_LIMIT = 80


def shorten(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as text, cut to ``limit`` characters with its full length said.

    Parameters
    ----------
    value
        Anything a message quotes (a cell, a config value).
    limit
        Longest text kept whole.

    Returns
    -------
    str
        ``str(value)`` when short enough, else its start and ``... (N characters)``.

    Examples
    --------
    >>> shorten("abc")
    'abc'
    >>> shorten("x" * 100_000, limit=5)
    'xxxxx... (100000 characters)'
    """
    text = str(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"
