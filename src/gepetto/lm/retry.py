"""When to try a failed model call again, and how long to wait first.

Why full jitter: an optimization run fires many calls at once; when the server
hiccups they all fail together, and a deterministic backoff would make them all
come back together too. Sleeping ``uniform(0, base * 2**attempt)`` spreads them
out (see the AWS "Exponential Backoff and Jitter" analysis). A server that says
how long to wait (``Retry-After``) knows better than we do, so that wins, capped
so that a confused server cannot park a run for an hour.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth another try: overload, rate limits and transient server faults.

Other 5xx are retried too (see :func:`is_retryable_status`); 4xx other than these
mean the request itself is wrong and retrying would only repeat the error.
"""


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status < 600


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or ``None`` if absent/unparseable.

    Accepts delta-seconds (also fractional, which some servers send) and HTTP dates.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass
class BackoffPolicy:
    """Exponential backoff with full jitter; ``Retry-After`` honoured up to a cap.

    ``max_retries`` is the number of *extra* attempts: a call makes at most
    ``max_retries + 1`` requests.
    """

    max_retries: int = 4
    base_s: float = 0.5
    max_s: float = 30.0
    retry_after_max_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep before retry number ``attempt + 1`` (``attempt`` from 0)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_max_s)
        ceiling = min(self.max_s, self.base_s * (2**attempt))
        return self.rng.uniform(0.0, max(0.0, ceiling))
