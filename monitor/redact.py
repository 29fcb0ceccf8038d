"""Keep secrets out of what is printed: URL credentials and query strings."""
from __future__ import annotations

import re

_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.\-]*://)(?P<user>[^:@/]*)(?::[^@/]*)?@", re.I)


def redact_url(url: str) -> str:
    """'https://user:secret@host/x?token=1' -> 'https://user:***@host/x?***'; other text is unchanged."""
    redacted = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", url, count=1)
    if "?" in redacted and "://" in redacted:
        redacted = redacted.split("?", 1)[0] + "?***"
    return redacted
