"""A loopback TCP forwarder a test can cut and restore: what a network partition between one
``qnet serve`` and PostgreSQL looks like to both (tests/integration/test_cluster_db_cut.py)."""
import socket
import threading


class CuttableLink:
    """Forwards 127.0.0.1:``port`` to ``target`` (host, port). ``cut()`` closes every forwarded
    connection and refuses new ones until ``restore()``."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = True
        self.sockets = set()
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:                  # closed
                return
            if not self.open:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)      # a LISTEN connection idles for long
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            self._close(s)

    def _close(self, sock):
        with self.lock:
            self.sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def cut(self):
        self.open = False
        with self.lock:
            live = list(self.sockets)
        for sock in live:
            self._close(sock)

    def restore(self):
        self.open = True

    def close(self):
        self.cut()
        self.listener.close()
