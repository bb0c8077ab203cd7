"""A small TCP proxy for cutting a connection (to the broker) in tests."""
import socket

import eventlet


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
            self.pipes += [eventlet.spawn(self._pipe, client, upstream), eventlet.spawn(self._pipe, upstream, client)]

    def _pipe(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if not self.frozen:
                    sink.sendall(data)
        except (OSError, EOFError):  # EOFError: the other direction closed this socket under us
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self):
        """Drop every open connection and refuse new ones."""
        self.accepting = False
        # Stop the readers first: a green thread left blocked on a closed socket
        # keeps a hub listener on its fd number, which a later socket reuses.
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
