"""Errors of the init program, and the exit code each one maps to.

Only :func:`init.cli.main` turns these into a one-line message on stderr and an exit code::

    InitError                      base class, never raised itself
    ├── ConfigError                (2)   a flag or environment value is invalid
    ├── BackendUnavailableError    (3)   no usable iptables backend in this kernel or image
    ├── ApplyError                 (4)   the kernel refused the rules; nothing was left half-applied
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
    """Neither python-iptables on legacy netfilter nor an iptables-restore binary can be used."""

    exit_code = 3


class ApplyError(InitError):
    """Applying or removing rules failed; the tables were rolled back to their prior state."""

    exit_code = 4


class DriftError(InitError):
    """Capture rules already exist but differ from the plan (and --reconcile was not given)."""

    exit_code = 5


class ValidationFailedError(InitError):
    """--run-validation could not prove that connections are redirected to the proxy."""

    exit_code = 126
