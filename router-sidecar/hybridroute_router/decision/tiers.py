"""Priority tier from a trusted source only: the client API key's sha256 in the policy's
map, or a header when (and only when) the policy says to trust it."""

from __future__ import annotations

import hashlib

from hybridroute_policy import TierPolicy, TierRule


def api_key_from_authorization(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, key = value.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return key.strip()


def resolve_tier(
    policy: TierPolicy, *, api_key: str | None, header_value: str | None
) -> str | None:
    """The tier name, or None. The API-key map wins over the header."""
    if api_key is not None and policy.api_key_sha256:
        digest = hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()
        tier = policy.api_key_sha256.get(digest)
        if tier is not None:
            return tier
    if policy.trust_header and header_value:
        return header_value.strip().lower() or None
    return policy.default


def tier_rule(policy: TierPolicy, tier: str | None) -> TierRule:
    if tier is None:
        return TierRule.AUTO
    return policy.rules.get(tier, TierRule.AUTO)
