"""Default names and lifetimes shared by ``injector serve``, ``injector certs`` and the manager.

Plain constants, no imports: ``injector serve`` reads them while building its argument
parser, before anything heavy (``cryptography``, ``kubernetes``) is loaded.
"""

from __future__ import annotations

NAMESPACE = "sidecar-injector"
SERVICE_NAME = "sidecar-injector"
SECRET_NAME = "sidecar-injector-ca"
WEBHOOK_CONFIG_NAME = "sidecar-injector"
CLUSTER_DOMAIN = "cluster.local"
CA_DAYS = 365
LEAF_DAYS = 7
# Our field manager for server-side apply of the webhook entries' ``caBundle``.
FIELD_MANAGER = "sidecar-injector-cabundle"
