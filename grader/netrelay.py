"""The one way out of a script's network namespace: to the MLflow server, and nowhere else.

Under bubblewrap a script gets a network namespace of its own (``--unshare-net``: only ``lo``), so it
cannot reach the database, the object store, or any port of the machine, and cannot bind a port that a
restarting service will need. Two small relays carry its MLflow traffic out:

* inside the namespace, ``inner_main`` (a user of its own, beside ``python stepN.py``) listens on
  127.0.0.1:<MLflow's port> and passes each connection to a Unix socket mounted into the box;
* outside, the grader's ``Relay`` accepts on that socket and connects to the MLflow server.

Both copy bytes and understand nothing of HTTP. Hand-written: a socket pair and two copy loops are less
code than configuring a proxy that would then need hardening of its own.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from pathlib import Path

# Connections one script may hold open at once through the relay; more are closed at once.
MAX_CONNECTIONS = 64
_CHUNK = 65536


def _pump(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy both ways until either side closes (or ``stop``)."""
    peers = {a: b, b: a}
    try:
        while not stop.is_set():
            ready, _, _ = select.select(list(peers), [], [], 0.5)
            for sock in ready:
                data = sock.recv(_CHUNK)
                if not data:
                    return
                peers[sock].sendall(data)
    except OSError:
        return
    finally:
        for sock in (a, b):
            try:
                sock.close()
            except OSError:
                pass


class Relay:
    """Accepts on a Unix socket (mounted into one script's box) and connects each client to ``target``."""

    def __init__(self, path: Path, target: tuple[str, int]):
        self.path = Path(path)
        self.target = target
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o666)  # the script's uid connects; the folder around it is the box's own
        self._listener.listen(MAX_CONNECTIONS)
        self._listener.settimeout(0.5)
        self._thread = threading.Thread(target=self._serve, daemon=True, name="handson-relay")
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                client.close()
                continue
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            self._slots.release()
            return
        upstream.settimeout(None)
        client.settimeout(None)
        try:
            _pump(client, upstream, self._stop)
        finally:
            self._slots.release()

    def close(self) -> None:
        self._stop.set()
        try:
            # shutdown wakes an accept() blocked in the serving thread at once (close alone does not: the
            # thread would sit out its accept timeout, up to half a second after every script).
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._listener.close()
        except OSError:
            pass
        self._thread.join(timeout=2)
        try:
            self.path.unlink()
        except OSError:
            pass


def inner_main(argv: list[str]) -> None:
    """``python netrelay.py SOCKET PORT UID -- COMMAND…``, started as root inside the box: listen on
    127.0.0.1:PORT, fork the relay into the background as user UID (not the script's, so the script can
    neither stop nor kill it), and become COMMAND (which drops to the script's own user), so the script's
    exit is the box's. The relay dies with the box's PID namespace."""
    sock_path, port, uid, command = argv[0], int(argv[1]), int(argv[2]), argv[4:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(MAX_CONNECTIONS)
    if os.fork() != 0:
        listener.close()
        os.execvp(command[0], command)
    os.setsid()
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    for fd in (0, 1, 2):  # the script's output pipe must close when the script ends, not when we do
        os.dup2(os.open(os.devnull, os.O_RDWR), fd)
    stop = threading.Event()
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            continue
        try:
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(sock_path)
        except OSError:
            client.close()
            continue
        threading.Thread(target=_pump, args=(client, upstream, stop), daemon=True).start()


if __name__ == "__main__":
    import sys

    inner_main(sys.argv[1:])
