"""Hostile step 2: the network — every port of this machine's loopback, looking for the database and the
object store (whose passwords a script does not have, but whose login checks it could flood)."""
import os
import socket
from urllib.parse import urlsplit

from _common import attempt, finish

MLFLOW_PORT = urlsplit(os.environ["MLFLOW_TRACKING_URI"]).port


@attempt("reach a port other than MLflow's (database, object store, the grader)")
def scan():
    open_ports = []
    for port in range(1, 65536):
        if port == MLFLOW_PORT:
            continue
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.2)
        try:
            # A connection to itself (source port = the port dialled) is TCP's self-connect, no listener.
            if sock.connect_ex(("127.0.0.1", port)) == 0 and sock.getsockname() != sock.getpeername():
                open_ports.append(port)
        finally:
            sock.close()
        if len(open_ports) > 20:
            break
    return open_ports


finish()
