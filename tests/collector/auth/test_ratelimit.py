"""Rate limits: token buckets in the real Redis at 127.0.0.1:6379, per surface and per caller."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from collector.auth.extension import AuthExtension
from collector.auth.principal import Principal, RateLimitedError, Role
from tests.collector.auth import FakeHost, make_auth
from tests.conftest import free_port

ALICE = Principal("alice", Role.VIEWER, None, "a1a1a1a1a1a1a1a1")
BOB = Principal("bob", Role.VIEWER, None, "b2b2b2b2b2b2b2b2")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"airis:test:ratelimit:{uuid.uuid4().hex}:"
    yield name
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    keys = [key async for key in redis.scan_iter(match=f"{name}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def limited(prefix: str, rate: float, burst: int, extra: str = "") -> AuthExtension:
    auth = make_auth(
        f"tokens: [{{token: t}}]\nrate_limit: {{requests_per_second: {rate}, burst: {burst}, "
        f"key_prefix: '{prefix}'{extra}}}\n"
    )
    await auth.start(FakeHost())  # type: ignore[arg-type]
    return auth


async def test_the_burst_is_allowed_then_requests_are_refused_with_a_wait(prefix: str) -> None:
    auth = await limited(prefix, rate=0.001, burst=3)
    for _ in range(3):
        await auth.check_rate(ALICE, "traces")
    with pytest.raises(RateLimitedError) as info:
        await auth.check_rate(ALICE, "traces")
    assert 900 < info.value.retry_after <= 1000  # one token at 0.001/s takes 1000 s
    assert info.value.status == 429 and info.value.code == "RATE_LIMITED"
    assert str(info.value) == (
        f"rate limit exceeded on traces (0.001 requests per second, burst 3); "
        f"retry in {int(info.value.retry_after) + 1} s"
    )
    redis = Redis.from_url("redis://127.0.0.1:6379/0")
    key = f"{prefix}traces:{ALICE.key}"
    assert [k.decode() async for k in redis.scan_iter(match=f"{prefix}*")] == [key]
    assert 0 < await redis.pttl(key) <= 3_001_000
    await redis.aclose()
    await auth.shutdown()


async def test_each_surface_and_each_caller_has_its_own_bucket(prefix: str) -> None:
    auth = await limited(prefix, rate=0.001, burst=1)
    await auth.check_rate(ALICE, "traces")
    with pytest.raises(RateLimitedError):
        await auth.check_rate(ALICE, "traces")
    await auth.check_rate(ALICE, "logs")
    await auth.check_rate(BOB, "traces")
    with pytest.raises(RateLimitedError):
        await auth.check_rate(BOB, "traces")
    await auth.shutdown()


async def test_the_bucket_refills_at_the_configured_rate(prefix: str) -> None:
    auth = await limited(prefix, rate=50, burst=1)  # one token every 20 ms
    await auth.check_rate(ALICE, "traces")
    with pytest.raises(RateLimitedError) as info:
        await auth.check_rate(ALICE, "traces")
    assert 0 < info.value.retry_after <= 0.02
    await asyncio.sleep(info.value.retry_after + 0.03)
    await auth.check_rate(ALICE, "traces")
    await auth.shutdown()


async def test_a_slow_rate_with_a_generous_burst_lets_a_burst_through_and_then_waits(prefix: str) -> None:
    auth = await limited(prefix, rate=0.5, burst=20)
    await asyncio.gather(*(auth.check_rate(ALICE, "gateway") for _ in range(20)))
    with pytest.raises(RateLimitedError) as info:
        await auth.check_rate(ALICE, "gateway")
    assert 1.5 < info.value.retry_after <= 2.0  # a token every 2 s
    await auth.shutdown()


async def test_an_unreachable_redis_allows_and_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    auth = await limited("x:", rate=1, burst=1, extra=f", endpoint: 'redis://:pw@127.0.0.1:{port}/0'")
    with caplog.at_level(logging.WARNING, logger="auth"):
        for _ in range(5):
            await auth.check_rate(ALICE, "traces")
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert message.startswith(f"rate limiter: Redis at redis://127.0.0.1:{port}/0 cannot be reached (")
    assert message.endswith("); allowing requests until it can")
    assert "pw" not in message
    await auth.shutdown()


async def test_an_unreachable_redis_refuses_when_on_error_is_deny() -> None:
    port = free_port()
    auth = await limited(
        "x:", rate=1, burst=1, extra=f", endpoint: 'redis://127.0.0.1:{port}/0', on_error: deny"
    )
    for _ in range(2):
        with pytest.raises(RateLimitedError) as info:
            await auth.check_rate(ALICE, "traces")
        assert str(info.value) == "the rate limiter is unavailable; try again shortly"
        assert info.value.retry_after == 1.0
    await auth.shutdown()


async def test_without_rate_limit_every_request_passes() -> None:
    auth = make_auth("tokens: [{token: t}]\n")
    for _ in range(100):
        await auth.check_rate(ALICE, "traces")
    await auth.shutdown()  # safe without start, and twice
    await auth.shutdown()


async def test_shutdown_closes_the_redis_client_and_a_later_check_reconnects(prefix: str) -> None:
    auth = await limited(prefix, rate=0.001, burst=2)
    await auth.check_rate(ALICE, "traces")
    await auth.shutdown()
    assert auth.limiter is not None and auth.limiter._redis is None
    await auth.check_rate(ALICE, "traces")
    with pytest.raises(RateLimitedError):
        await auth.check_rate(ALICE, "traces")
    await auth.shutdown()
