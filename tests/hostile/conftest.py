"""The webhook tests' fixtures (certificates, a running server) for the hostile-input tests."""

from tests.webhook.conftest import certs

__all__ = ["certs"]
