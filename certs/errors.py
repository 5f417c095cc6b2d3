"""Errors raised by the ``certs`` package.

Hierarchy::

    CertError                       base of everything raised here
    ├── InvalidCertificateError     bad PEM, key does not match cert, expired, not a CA, ...
    └── ClusterAccessError          the Kubernetes API could not be used (down, 5xx, bad reply)
        ├── PermissionDeniedError   403: RBAC refused a verb on a resource (names both)
        ├── ConflictError           409: resourceVersion conflict or AlreadyExists
        └── NotFoundError           404: the object does not exist

Only the edges translate these: the CLI prints one line and exits 1, the manager logs them
and retries; nothing here ever escapes as a crash loop.
"""

from __future__ import annotations


class CertError(Exception):
    """Base class of every error raised by the ``certs`` package."""


class InvalidCertificateError(CertError):
    """Certificate or key material is unusable; the message says why."""


class ClusterAccessError(CertError):
    """The Kubernetes API refused or failed a request."""


class PermissionDeniedError(ClusterAccessError):
    """RBAC refused a request; the message names the verb and the resource."""


class ConflictError(ClusterAccessError):
    """A write lost an optimistic-concurrency race (HTTP 409)."""


class NotFoundError(ClusterAccessError):
    """The requested object does not exist (HTTP 404)."""
