"""Exceptions raised by tccas. Messages name the file, the variable and what is wrong."""


class TccasError(Exception):
    """Base class of all tccas errors."""


class ConfigError(TccasError):
    """A configuration file or argument is invalid."""


class InputDataError(TccasError):
    """An input data file (forcing, static, observations) is missing, unreadable or invalid."""


class ModelError(TccasError):
    """The Fortran core refused its inputs or produced a non-finite result."""
