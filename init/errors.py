"""Errors of the init program, and the exit code each one maps to.

Anything else is an internal error (1). Only :func:`init.cli.main` turns these into a one-line
message on stderr and an exit code::

    InitError                      base class, never raised itself
    ├── ConfigError                (2)   a flag or environment value is invalid
    ├── BackendUnavailableError    (3)   no usable backend in this kernel, image or container
    ├── ApplyError                 (4)   a step of the apply failed; everything was rolled back
    ├── DriftError                 (5)   stale capture rules present; rerun with --reconcile
    └── ValidationFailedError      (126) rules are in place but traffic is not redirected
"""

from __future__ import annotations


class InitError(Exception):
    """Base class of every error the init program reports to its user."""

    exit_code = 1


class ConfigError(InitError):
    """A flag or environment value is invalid; the message names the flag and the value."""

    exit_code = 2


class BackendUnavailableError(InitError):
    """The chosen (or every) backend cannot run here: kernel tables, programs or the
    capabilities to read the rules are missing; nothing was changed."""

    exit_code = 3


class ApplyError(InitError):
    """A step of applying or removing rules failed; the tables were rolled back."""

    exit_code = 4


class DriftError(InitError):
    """Capture rules already exist but differ from the plan (and --reconcile was not given)."""

    exit_code = 5


class ValidationFailedError(InitError):
    """--run-validation could not prove that connections are redirected to the proxy."""

    exit_code = 126


EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "rules in place (or nothing to do), validation passed"),
    (1, "internal error"),
    (ConfigError.exit_code, "invalid flag or environment value; nothing was touched"),
    (BackendUnavailableError.exit_code, "no usable backend (tables, programs or NET_ADMIN)"),
    (ApplyError.exit_code, "a step failed; every change was rolled back"),
    (DriftError.exit_code, "other capture rules present; rerun with --reconcile"),
    (ValidationFailedError.exit_code, "connections are not redirected to the proxy"),
)


def describe_exit_codes() -> str:
    """The exit codes as ``--help`` lists them."""
    return "exit codes:\n" + "\n".join(f"  {code:<5}{text}" for code, text in EXIT_CODES)
