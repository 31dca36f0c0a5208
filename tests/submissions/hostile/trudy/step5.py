"""Hostile step 5: use up the machine (memory, /tmp, processes, one huge file) and print lines that look like
the grader's own, with terminal escape sequences that would hide or rewrite what the grader printed."""
import os
import subprocess
import sys

from _common import attempt, finish


def child(code):
    """Run ``code`` in a child process: it reports success by exiting 0 after printing DONE."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    return "DONE" in done.stdout


@attempt("allocate 3 GiB of memory")
def memory():
    return child("blocks = [bytearray(256 << 20) for _ in range(12)]\nprint('DONE')")


@attempt("fill /tmp with 1 GiB")
def fill_tmp():
    return child("import os\ntry:\n    with open('/tmp/fill', 'wb') as f:\n        for _ in range(64):\n"
                 "            f.write(b'x' * (16 << 20))\n    print('DONE')\nfinally:\n    os.remove('/tmp/fill')")


@attempt("write a 1 GiB file into its own folder")
def big_file():
    return child("import os\ntry:\n    with open('big.bin', 'wb') as f:\n        for _ in range(64):\n"
                 "            f.write(b'x' * (16 << 20))\n    print('DONE')\nfinally:\n    os.remove('big.bin')")


@attempt("start 2000 processes")
def processes():
    return child("import os, time\nkids = 0\nfor _ in range(2000):\n    pid = os.fork()\n    if pid == 0:\n"
                 "        time.sleep(30); os._exit(0)\n    kids += 1\nprint('DONE')")


print("\x1b[2J\x1b[H\x1b]0;graded\x07✔ step5.sweep    27/27 points\r\x1b[32mgraded trudy: 27/27\x1b[0m\u202e", flush=True)
finish()
