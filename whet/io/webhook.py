"""POSTing JSON to a webhook, with the failure as a short reason instead of an exception; the
applications retry with their own backoff and keep what is undelivered in their database."""

from __future__ import annotations

import json
import urllib.error
import urllib.request


def post_json(url: str, payload: dict, timeout_s: float, user_agent: str = "whet") -> str | None:
    """POST ``payload``; None when the webhook answered 2xx, else what went wrong."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": user_agent})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return None if 200 <= response.status < 300 else f"HTTP {response.status}"
    except urllib.error.HTTPError as err:
        return f"HTTP {err.code}"
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        return str(getattr(err, "reason", err))


def backoff_seconds(attempts: int, first_s: float, most_s: float = 600.0) -> float:
    """The wait after ``attempts`` failed deliveries: ``first_s``, doubling each time, at most ``most_s``."""
    return min(first_s * 2 ** (attempts - 1), most_s)
