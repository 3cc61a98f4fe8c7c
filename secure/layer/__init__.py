"""The secure layer: what wraps a plain :class:`echonet.node.Node` with the overlay, and its asyncio glue.

By job:

* :mod:`secure.layer.core`: :class:`~secure.layer.core.SecureLayer`, the sans-I/O layer between the socket and the
  node (handshakes, sessions, protection, policy checks, rekeys, re-checks, audit), with the node's interface;
* :mod:`secure.layer.config`: :class:`~secure.layer.config.SecureConfig`, its tunables;
* :mod:`secure.layer.guards`: its denial-of-service guards (token buckets, stateless cookies, address validation
  and the amplification limit);
* :mod:`secure.layer.aio`: the asyncio adapters (:class:`~secure.layer.aio.SecureController`,
  :class:`~secure.layer.aio.SecureDeviceServer`, :func:`~secure.layer.aio.open_secure_controller`,
  :func:`~secure.layer.aio.open_secure_server`), the only part that needs an event loop: importing the others
  loads no asyncio.
"""
