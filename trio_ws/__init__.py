"""trio_ws: Trio-native, structured-concurrency WebSockets with Starlette's API.

Only the names listed in ``__all__`` are public. Everything lives in private modules and is
re-exported here; the ``__module__`` of each export is rewritten so that tracebacks and docs
show ``trio_ws.WebSocket`` rather than ``trio_ws._websocket.WebSocket``.
"""

from __future__ import annotations

from ._adopt import adopt as adopt
from ._app import WebSocketApp as WebSocketApp
from ._app import websocket_app as websocket_app
from ._datastructures import (
    URL as URL,
)
from ._datastructures import (
    Address as Address,
)
from ._datastructures import (
    Headers as Headers,
)
from ._datastructures import (
    QueryParams as QueryParams,
)
from ._datastructures import (
    State as State,
)
from ._endpoint import WebSocketEndpoint as WebSocketEndpoint
from ._exceptions import (
    InvalidJSONMessage as InvalidJSONMessage,
)
from ._exceptions import InvalidModeError as InvalidModeError
from ._exceptions import (
    LocalProtocolError as LocalProtocolError,
)
from ._exceptions import (
    ProtocolError as ProtocolError,
)
from ._exceptions import (
    RemoteProtocolError as RemoteProtocolError,
)
from ._exceptions import (
    UnexpectedMessageType as UnexpectedMessageType,
)
from ._exceptions import (
    WebSocketDisconnect as WebSocketDisconnect,
)
from ._exceptions import (
    WebSocketDisconnected as WebSocketDisconnected,
)
from ._exceptions import (
    WebSocketError as WebSocketError,
)
from ._exceptions import (
    WebSocketException as WebSocketException,
)
from ._limits import RateLimit as RateLimit
from ._options import ConnectionOptions as ConnectionOptions
from ._options import OverflowPolicy as OverflowPolicy
from ._protocol import ClosedBy as ClosedBy
from ._protocol import WebSocketState as WebSocketState
from ._responses import (
    JSONResponse as JSONResponse,
)
from ._responses import (
    PlainTextResponse as PlainTextResponse,
)
from ._responses import (
    Response as Response,
)
from ._serve import ServerSettings as ServerSettings
from ._serve import serve as serve
from ._serve_extension import keepalive_latency as keepalive_latency
from ._structured import WebSocketStatistics as WebSocketStatistics
from ._version import __version__ as __version__
from ._websocket import MessageIterator as MessageIterator
from ._websocket import WebSocket as WebSocket
from .broadcast import Broadcast as Broadcast
from .broadcast import BroadcastError as BroadcastError
from .broadcast import BroadcastEvent as BroadcastEvent
from .broadcast import BroadcastGap as BroadcastGap
from .broadcast import BroadcastUnavailable as BroadcastUnavailable
from .broadcast import Presence as Presence
from .broadcast import PresenceDiff as PresenceDiff
from .broadcast import Publisher as Publisher
from .broadcast import PublisherStatistics as PublisherStatistics
from .broadcast import PublishRefused as PublishRefused
from .broadcast import Subscriber as Subscriber
from .broadcast import SubscriberOverflow as SubscriberOverflow
from .broadcast import SubscriberStatistics as SubscriberStatistics
from .client import ClientClosedBy as ClientClosedBy
from .client import ClientWebSocket as ClientWebSocket
from .client import ConnectError as ConnectError
from .client import DNSError as DNSError
from .client import HandshakeFailed as HandshakeFailed
from .client import HandshakeRejected as HandshakeRejected
from .client import OpenTimeout as OpenTimeout
from .client import TCPConnectError as TCPConnectError
from .client import TLSError as TLSError
from .client import connect as connect
from .client import keep_connected as keep_connected

__all__ = [
    # the connection
    "WebSocket",
    "WebSocketState",
    "ClosedBy",
    "ConnectionOptions",
    "OverflowPolicy",
    "WebSocketStatistics",
    "MessageIterator",
    "websocket_app",
    "WebSocketApp",
    # application layer
    "RateLimit",
    "WebSocketEndpoint",
    "adopt",
    # serving
    "serve",
    "ServerSettings",
    "keepalive_latency",
    # the client
    "connect",
    "keep_connected",
    "ClientWebSocket",
    "ClientClosedBy",
    "ConnectError",
    "DNSError",
    "TCPConnectError",
    "TLSError",
    "OpenTimeout",
    "HandshakeFailed",
    "HandshakeRejected",
    # broadcast
    "Broadcast",
    "BroadcastEvent",
    "Subscriber",
    "SubscriberStatistics",
    "BroadcastError",
    "BroadcastGap",
    "BroadcastUnavailable",
    "SubscriberOverflow",
    "Presence",
    "PresenceDiff",
    "Publisher",
    "PublisherStatistics",
    "PublishRefused",
    # request views
    "URL",
    "Address",
    "Headers",
    "QueryParams",
    "State",
    # denial responses
    "Response",
    "PlainTextResponse",
    "JSONResponse",
    # exceptions
    "InvalidJSONMessage",
    "InvalidModeError",
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "UnexpectedMessageType",
    "WebSocketDisconnect",
    "WebSocketDisconnected",
    "WebSocketError",
    "WebSocketException",
]


def _fix_module_names() -> None:
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith(
            ("trio_ws._", "trio_ws.broadcast._", "trio_ws.client._")
        ):
            try:
                obj.__module__ = __name__
            except (AttributeError, TypeError):  # type aliases such as OverflowPolicy
                pass


_fix_module_names()
