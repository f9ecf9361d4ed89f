"""Broadcast: publish/subscribe channels with bounded subscribers, in memory or on Redis.

``Broadcast(url)`` is the front; ``"memory://"`` keeps messages in this process,
``"redis://..."`` (the ``redis`` extra, coredis) reaches every process connected to the same
Redis, and ``"redis-cluster://..."`` every process connected to the same Redis Cluster
(sharded pub/sub). Each subscriber has its own bounded buffer and overflow policy, so a slow
subscriber never delays the publisher or the other subscribers; ``broadcast.publisher()``
pipelines one task's publishes. See docs/broadcast.md.
"""

from __future__ import annotations

from ._broadcast import Broadcast as Broadcast
from ._event import BroadcastEvent as BroadcastEvent
from ._exceptions import BroadcastError as BroadcastError
from ._exceptions import BroadcastGap as BroadcastGap
from ._exceptions import BroadcastUnavailable as BroadcastUnavailable
from ._exceptions import PublishRefused as PublishRefused
from ._exceptions import SubscriberOverflow as SubscriberOverflow
from ._presence import Presence as Presence
from ._presence import PresenceDiff as PresenceDiff
from ._publisher import Publisher as Publisher
from ._publisher import PublisherStatistics as PublisherStatistics
from ._subscriber import Subscriber as Subscriber
from ._subscriber import SubscriberStatistics as SubscriberStatistics

__all__ = [
    "Broadcast",
    "BroadcastEvent",
    "BroadcastError",
    "BroadcastGap",
    "BroadcastUnavailable",
    "Presence",
    "PresenceDiff",
    "PublishRefused",
    "Publisher",
    "PublisherStatistics",
    "Subscriber",
    "SubscriberOverflow",
    "SubscriberStatistics",
]
