"""Token buckets in Redis: one per caller and surface, refilled and taken from in one atomic script."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from collector.auth.config import RateLimitConfig, without_credentials
from collector.auth.principal import Principal, RateLimitedError

WARN_EVERY = 30.0
"""Seconds between two warnings that Redis cannot be reached."""
RETRY_REDIS_AFTER = 1.0
"""Seconds during which requests skip Redis after it failed (so each does not wait for a timeout)."""

# KEYS[1]: the bucket; ARGV: rate (tokens/s), burst. Uses the server's clock, so every airis process
# agrees on elapsed time. Returns the seconds to wait before a token is there, "0" when one was taken.
TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%.6f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RateLimiter:
    """`check` raises RateLimitedError when the caller's bucket for a surface is empty."""

    def __init__(self, config: RateLimitConfig, logger: logging.Logger) -> None:
        self.config = config
        self.log = logger
        self._redis: Redis | None = None
        self._script: Any = None
        self._down_until = 0.0
        self._warned_at: float | None = None
        self.shown_endpoint = without_credentials(config.endpoint)
        """The endpoint without credentials, for logs."""

    def bucket(self, principal: Principal, surface: str) -> str:
        """The Redis key of `principal`'s bucket on `surface`."""
        return f"{self.config.key_prefix}{surface}:{principal.key}"

    async def check(self, principal: Principal, surface: str) -> None:
        """Take one request from the bucket; RateLimitedError (with the wait) when it is empty."""
        try:
            wait = await self.take(self.bucket(principal, surface))
        except (RedisError, OSError) as err:
            self._unavailable(err)
            return
        if wait > 0:
            rate = self.config.requests_per_second
            raise RateLimitedError(
                f"rate limit exceeded on {surface} ({rate:g} requests per second, burst "
                f"{self.config.burst}); retry in {math.ceil(wait)} s",
                retry_after=wait,
            )

    async def take(self, key: str) -> float:
        """Take one token from bucket `key`: 0 when taken, else the seconds until one is there."""
        now = time.monotonic()
        if now < self._down_until:
            raise ConnectionError("Redis failed moments ago; not trying again yet")
        if self._redis is None:
            timeout = self.config.timeout.total_seconds()
            self._redis = Redis.from_url(
                self.config.endpoint,
                socket_connect_timeout=timeout,
                socket_timeout=timeout,
                retry=Retry(NoBackoff(), 1),
            )
            self._script = self._redis.register_script(TAKE)
        try:
            reply = await self._script(
                keys=[key], args=[repr(self.config.requests_per_second), str(self.config.burst)]
            )
        except (RedisError, OSError):
            self._down_until = time.monotonic() + RETRY_REDIS_AFTER
            raise
        return float(reply)

    def _unavailable(self, err: Exception) -> None:
        """Apply `on_error`; warn at most every WARN_EVERY seconds."""
        now = time.monotonic()
        allow = self.config.on_error == "allow"
        if self._warned_at is None or now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            self.log.warning(
                "rate limiter: Redis at %s cannot be reached (%s); %s requests until it can",
                self.shown_endpoint,
                err,
                "allowing" if allow else "refusing",
            )
        if not allow:
            raise RateLimitedError(
                "the rate limiter is unavailable; try again shortly", retry_after=RETRY_REDIS_AFTER
            )

    async def close(self) -> None:
        """Close the Redis client (idempotent)."""
        if self._redis is not None:
            redis, self._redis, self._script = self._redis, None, None
            await redis.aclose()


__all__ = ["TAKE", "RateLimiter"]
