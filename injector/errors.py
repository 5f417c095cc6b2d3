"""Errors of the injector package.

Raised by the pure core and the adapters, turned into responses (webhook: ``allowed: false``
with ``status.message``) or exit codes (CLI: one line on stderr, exit 1) only at the edges::

    InjectorError
    ├── ConfigError            operator configuration (template, values, mesh) is invalid
    ├── InjectionError         this pod cannot be injected; the webhook denies it
    │   ├── InvalidPodError        the object is not a pod we can read
    │   └── AnnotationError        one or more annotation values are invalid (all listed)
    └── ManifestError          a document of an ``inject``/``check`` input cannot be processed
"""

from __future__ import annotations

from collections.abc import Sequence


class InjectorError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(InjectorError):
    """The injection template, values or mesh configuration is invalid."""


class InjectionError(InjectorError):
    """The pod cannot be injected; the admission is denied with this message."""

    code = 400


class InvalidPodError(InjectionError):
    """The admitted object is not a pod (or not one we can read)."""


class AnnotationError(InjectionError):
    """Invalid annotation values. Every problem of the pod is listed, not just the first."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid annotations: " + "; ".join(self.problems))


class ManifestError(InjectorError):
    """A document of a manifest stream cannot be processed (names the document)."""
