"""Hostile step 5: signals — stop the database, kill every process it can see, its parents included."""
import os
import signal

from _common import attempt, finish, vandalise

vandalise()


@attempt("SIGSTOP the database server")
def stop_db():
    stopped = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"mariadbd" in cmd or b"mysqld" in cmd or b"minio" in cmd:
            try:
                os.kill(int(pid), signal.SIGSTOP)
                stopped.append(pid)
            except OSError:
                pass
    return stopped


@attempt("kill every other process it can see")
def kill_all():
    killed = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) not in (os.getpid(), 1):
            try:
                os.kill(int(pid), signal.SIGKILL)
                killed.append(pid)
            except OSError:
                pass
    # pid 1 of its namespace, or init: trying is the attack
    try:
        os.kill(os.getppid(), signal.SIGKILL)
        killed.append(f"parent {os.getppid()}")
    except OSError:
        pass
    return [k for k in killed if k != str(os.getpid())]


finish()
