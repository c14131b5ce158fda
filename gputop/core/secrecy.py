"""Which request headers carry credentials, and taking configured secrets out of a text.

A header such as `Authorization`, `Cookie`, `X-Api-Key` or `X-Auth-Token` is as secret as a
bearer token: the config refuses it inline and reads it from a file or the environment, the
clients never send it to another origin, and its value is scrubbed from every error text
(servers echo what they were sent: `rejected credentials Bearer abc123`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote

__all__ = [
    "MIN_SECRET_CHARS",
    "basic_auth_forms",
    "is_credential_header",
    "scrub",
    "secret_forms",
]

#: Shorter values are not scrubbed: replacing every "ab" would garble the text, not hide much.
MIN_SECRET_CHARS = 4

_CREDENTIAL = re.compile(
    r"^(authorization|proxy-authorization|cookie)$"
    r"|token|secret|passw|credential|session|auth|api-?key|(^|[-_])key$",
    re.IGNORECASE,
)


def is_credential_header(name: str) -> bool:
    """Whether a header of this name carries a credential (`Authorization`, `Cookie`,
    `*-Token`, `*-Key`, `*secret*`, `*auth*`, ...)."""
    return _CREDENTIAL.search(name.strip()) is not None


def secret_forms(value: str) -> list[str]:
    """`value` and the forms a server may echo it in: each word of a header value (the token
    of `Bearer <token>`), and each of those URL-quoted."""
    plain = [value, *value.split()[1:]]
    forms = [*plain, *(quote(f, safe="") for f in plain)]
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_SECRET_CHARS]


def basic_auth_forms(user: str, password: str) -> list[str]:
    """The password, and the base64 pair an `Authorization: Basic` header carries."""
    pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return [*secret_forms(password), pair]


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with each secret (longest first) replaced by `***`."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, "***")
    return text
