"""``parcours serve --workers N`` with N > 1: uvicorn's supervisor, but one listening socket per worker.

uvicorn binds one socket in the supervisor and every worker accepts from it. A burst of new connections (a load
balancer opening its pool, wrk starting) is then taken by whichever worker wakes first, and keep-alive connections
stay where they landed: in the load benchmark one worker held about three times as many connections as the other
(p50 716 ms against 209 ms at 32 connections, and the timeouts). Here each worker binds its own socket on the
same address with ``SO_REUSEPORT``, and the kernel spreads new connections over them by a hash of the client's
address and port. Everything else is uvicorn's ``Multiprocess``: worker health checks and restarts, SIGTERM with
the graceful-shutdown timeout, SIGHUP.

Linux lets only processes of the same user join a ``SO_REUSEPORT`` group, so no other user can take a share of
the connections. The sockets are created with ``IPPROTO_TCP``: accepted connections then get TCP_NODELAY
(uvicorn issue 3149).
"""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors import multiprocess as uvicorn_multiprocess


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``(host, port)`` with ``SO_REUSEPORT`` (not yet listening)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _OwnSocketServer(uvicorn.Server):
    """A worker's server: given no socket by the supervisor, it binds its own."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets or [reuse_port_socket(self.config.host, self.config.port)])


class _OwnSocketProcess(uvicorn_multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = _OwnSocketServer(config=self.config)
        return self._server


def run_workers(config: uvicorn.Config) -> None:
    """Run ``config.workers`` worker processes, each with its own ``SO_REUSEPORT`` socket on the configured
    address, under uvicorn's supervisor. Raises ``OSError`` at once when the address cannot be bound."""
    if config.port == 0:
        raise OSError("--workers N > 1 needs a fixed port: each worker binds its own socket to it")
    reuse_port_socket(config.host, config.port).close()  # the address is free to share, or fail here, once
    # The supervisor makes its workers through this module name; ours bind their own socket.
    uvicorn_multiprocess.Process = _OwnSocketProcess  # type: ignore[misc]
    Multiprocess(config, sockets=[]).run()
