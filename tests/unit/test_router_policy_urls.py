"""Upstream URLs in a policy: credentials in the URL are refused with a pointer to
apiKey (a URL is logged and shown in errors; a key is not)."""

from __future__ import annotations

import pytest
from hybridroute_policy import PolicyError, parse_policy

pytestmark = pytest.mark.unit


def _doc(base_url: str) -> str:
    return (
        f"large: {{upstream: {{baseUrl: '{base_url}', model: m}}}}\n"
        "small: {versions: [{name: v1, upstream: {baseUrl: 'http://s/v1', model: s}}]}\n"
    )


@pytest.mark.parametrize(
    "url", ["http://user:secret@api.example.com/v1", "https://token@api.example.com", "http://@h/"]
)
def test_credentials_in_a_base_url_are_refused_with_a_pointer_to_api_key(url: str) -> None:
    with pytest.raises(PolicyError, match="use apiKey") as info:
        parse_policy(_doc(url))
    assert "secret" not in str(info.value)  # the error never echoes the credentials


@pytest.mark.parametrize(
    "url", ["http://large:8000/v1", "https://api.example.com/v1/users/@me", "http://[::1]:80"]
)
def test_ordinary_base_urls_are_accepted(url: str) -> None:
    policy = parse_policy(_doc(url))
    assert policy.large.upstream.base_url == url
