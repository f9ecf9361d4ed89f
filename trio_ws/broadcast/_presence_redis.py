"""``RedisPresenceStore``: the presence table of a channel in Redis, changed by one Lua script.

Three keys per channel, all with the channel as their hash tag (one slot on a cluster; a
channel with braces in its name is tagged by its SHA-1 instead)::

    trio_ws:presence:{<channel>}:members   hash   ref -> "<join version> <[key, meta] JSON>"
    trio_ws:presence:{<channel>}:expiry    zset   ref -> expiry time (ms, Redis' own clock)
    trio_ws:presence:{<channel>}:clock     hash   epoch, version, ttl (the longest ttl seen)

The script adds/refreshes/deletes entries, prunes every expired one (up to 1,000 per call),
reads the table when asked, and gives all three keys an expiry of twice the longest TTL, so
a channel whose every process died vanishes by itself. When the last entry goes, the keys are
deleted: the next join starts a new epoch (so does a Redis restart that lost the keys).
Expiry uses Redis' clock (``TIME``), never the processes' clocks.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import TYPE_CHECKING, Any, final

import trio

from ._exceptions import BroadcastUnavailable
from ._exceptions import first_leaf as _first_leaf
from ._presence_store import Member, StoreReply, StoreRequest, decode_entry
from ._redis import _describe, _is_link_error

if TYPE_CHECKING:
    from ._backend import Backend

__all__ = ["RedisPresenceStore", "presence_keys"]

_SYNC = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local members, expiry, clock = KEYS[1], KEYS[2], KEYS[3]
local ops = cjson.decode(ARGV[2])
if redis.call('HSETNX', clock, 'epoch', ARGV[1]) == 1 then
  redis.call('HSET', clock, 'version', 0, 'ttl', 0)
end
local longest = tonumber(redis.call('HGET', clock, 'ttl'))
local joins, leaves, missing = {}, {}, {}
local function bump()
  return redis.call('HINCRBY', clock, 'version', 1)
end
for _, u in ipairs(ops.u) do
  local ttl = tonumber(u[2])
  if ttl > longest then longest = ttl end
  if redis.call('ZADD', expiry, now + ttl, u[1]) == 1 or u[4] == 1 then
    local entry = bump() .. ' ' .. u[3]
    redis.call('HSET', members, u[1], entry)
    joins[#joins + 1] = u[1]
    joins[#joins + 1] = entry
  end
end
for _, r in ipairs(ops.r) do
  local ttl = tonumber(r[2])
  if ttl > longest then longest = ttl end
  if redis.call('ZSCORE', expiry, r[1]) then
    redis.call('ZADD', expiry, 'XX', now + ttl, r[1])
  else
    missing[#missing + 1] = r[1]
  end
end
local function drop(ref)
  local entry = redis.call('HGET', members, ref)
  redis.call('ZREM', expiry, ref)
  if entry then
    redis.call('HDEL', members, ref)
    leaves[#leaves + 1] = ref
    leaves[#leaves + 1] = bump()
    leaves[#leaves + 1] = entry
  end
end
for _, ref in ipairs(ops.d) do drop(ref) end
for _, ref in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, 1000)) do
  drop(ref)
end
local snapshot = {}
if ops.s == 1 then snapshot = redis.call('HGETALL', members) end
local epoch = redis.call('HGET', clock, 'epoch')
local version = redis.call('HGET', clock, 'version')
if redis.call('HLEN', members) == 0 then
  redis.call('DEL', members, expiry, clock)
else
  redis.call('HSET', clock, 'ttl', longest)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, 2 * longest) end
end
return {epoch, version, joins, leaves, missing, snapshot}
"""


def presence_keys(channel: str) -> list[str]:
    """The three keys of ``channel``'s table, in one hash slot.

    The channel is the hash tag, so the keys sit in the channel's own slot; a channel with
    braces in its name (which would cut the tag short, or empty it) is tagged by its digest.
    """
    tag = channel
    if "{" in channel or "}" in channel:
        tag = hashlib.sha1(channel.encode(), usedforsecurity=False).hexdigest()
    base = f"trio_ws:presence:{{{tag}}}"
    return [base + ":members", base + ":expiry", base + ":clock"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _member(ref: bytes | str, entry: bytes | str) -> Member:
    version, _, payload = _text(entry).partition(" ")
    return decode_entry(_text(ref), int(version), payload)


@final
class RedisPresenceStore:
    """The presence tables in the Redis of a `RedisBackend` (its client and its timeouts)."""

    def __init__(self, client: Any, url: str, timeout: float) -> None:
        self._client = client
        self._url = url
        self._timeout = timeout
        self._script: Any = client.register_script(_SYNC)

    @classmethod
    def for_backend(cls, backend: Backend) -> RedisPresenceStore:
        """The store next to ``backend``'s messages (any backend with a coredis client)."""
        client = getattr(backend, "_client", None)
        url = getattr(backend, "_url", "?")
        timeout = getattr(backend, "_connect_timeout", 5.0)
        if client is None:
            raise TypeError(f"presence is not available on {type(backend).__name__}")
        return cls(client, url, timeout)

    async def sync(self, channel: str, request: StoreRequest) -> StoreReply:
        ops = {
            "u": [
                [item.ref, _millis(item.ttl), item.payload, 1 if item.rewrite else 0]
                for item in request.upsert
            ],
            "r": [[ref, _millis(ttl)] for ref, ttl in request.refresh],
            "d": list(request.remove),
            "s": 1 if request.snapshot else 0,
        }
        try:
            with trio.fail_after(self._timeout):
                reply = await self._script(
                    keys=presence_keys(channel),
                    args=[secrets.token_hex(8), json.dumps(ops, separators=(",", ":"))],
                )
        except Exception as error:
            if not _is_link_error(error):
                raise
            raise BroadcastUnavailable(
                f"cannot update the presence of {channel!r} on Redis at {self._url}: "
                f"{_describe(error)}"
            ) from _first_leaf(error)
        epoch, version, joins, leaves, missing, table = reply
        return StoreReply(
            epoch=_text(epoch),
            version=int(version),
            joins=[_member(joins[i], joins[i + 1]) for i in range(0, len(joins), 2)],
            leaves=[
                _with_version(_member(leaves[i], leaves[i + 2]), int(leaves[i + 1]))
                for i in range(0, len(leaves), 3)
            ],
            missing=[_text(ref) for ref in missing],
            snapshot=(
                [_member(table[i], table[i + 1]) for i in range(0, len(table), 2)]
                if request.snapshot
                else None
            ),
        )


def _millis(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _with_version(member: Member, version: int) -> Member:
    return Member(member.ref, version, member.key, member.meta)
