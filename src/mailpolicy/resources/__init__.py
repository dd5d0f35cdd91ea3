"""One module per settings resource: its table, its schemas, its spec and anything special."""

from typing import Any

from fastapi import APIRouter

from mailpolicy.resources import (
    allow_policies,
    block_senders,
    content_policies,
    domains,
    impersonation_registry,
    sending_domain_restrictions,
    trusted_domains,
    url_ignore_patterns,
)
from mailpolicy.resources.spec import ResourceSpec

# Each resource's spec, and the router of its special endpoints (registered before the generic
# routes, so that a fixed path such as /domains/{id}/verification is matched first).
# A spec is typed by its own entry class; the registry holds specs of eight.
REGISTRY: tuple[tuple[ResourceSpec[Any], APIRouter | None], ...] = (
    (allow_policies.SPEC, None),
    (block_senders.SPEC, None),
    (content_policies.SPEC, None),
    (domains.SPEC, domains.router),
    (impersonation_registry.SPEC, None),
    (sending_domain_restrictions.SPEC, None),
    (trusted_domains.SPEC, None),
    (url_ignore_patterns.SPEC, None),
)
