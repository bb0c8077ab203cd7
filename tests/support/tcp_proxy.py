"""A small TCP proxy for cutting a connection (to the broker) in tests."""
import socket

import eventlet
import pytest


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = eventlet.listen(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.accepting = True
        self.frozen = False
        self.pipes: list = []

    def __enter__(self):
        self._acceptor = eventlet.spawn(self._accept)
        return self

    def __exit__(self, *exc):
        self.cut()
        self._acceptor.kill()
        self.listener.close()

    def _accept(self):
        while True:
            client, _ = self.listener.accept()
            if not self.accepting:
                client.close()
                continue
            upstream = eventlet.connect(self.target)
            self.connections += [client, upstream]
            forward = eventlet.spawn(self._pipe, client, upstream)
            backward = eventlet.spawn(self._pipe, upstream, client)
            forward.link(self._finish, backward, client, upstream)
            backward.link(self._finish, forward, client, upstream)
            self.pipes += [forward, backward]

    def _pipe(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self.frozen:
                    sink.sendall(data)
        except (OSError, EOFError):  # EOFError: the socket was closed under a pending read
            pass

    def _finish(self, done, sibling, *sockets):
        # Stop the other direction before closing: a green thread left blocked
        # on a closed socket keeps a hub listener on its fd number, which a
        # later socket or pipe (a restarted process's) reuses.
        sibling.kill()
        for sock in sockets:
            try:
                sock.close()
            except OSError:
                pass
        self.connections = [sock for sock in self.connections if sock not in sockets]
        self.pipes = [pipe for pipe in self.pipes if pipe not in (done, sibling)]

    def cut(self):
        """Drop every open connection and refuse new ones."""
        self.accepting = False
        for pipe in self.pipes:
            pipe.kill()
        self.pipes.clear()
        for sock in self.connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.connections.clear()

    def freeze(self):
        """A silent network: connections stay open (new ones too) but no byte
        gets through, until `cut()`; only heartbeats and timeouts notice."""
        self.frozen = True

    def restore(self):
        self.frozen = False
        self.accepting = True


def proxy_fixture(target_port: int, target_host: str = "127.0.0.1"):
    """A module-scoped pytest fixture: a running TcpProxy to the target."""

    @pytest.fixture(scope="module")
    def proxy():
        with TcpProxy(target_host, target_port) as running:
            yield running

    return proxy
