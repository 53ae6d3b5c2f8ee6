"""What a second send() per answer costs on loopback TCP: a sender on core 1 answers each
one-byte request from a receiver on core 0 with 300 bytes, in one send() or in two (100 +
200 bytes, as uvicorn writes a response's head and body), alternating twice.

    python3 bench/router/twosends.py

Prints the sender's CPU time per answer (thread_time) and the round trip per answer.
"""

from __future__ import annotations

import os
import socket
import time

N = 20000
MODES = (1, 2, 1, 2)


def receiver(port: int) -> None:
    os.sched_setaffinity(0, {0})
    c = socket.create_connection(("127.0.0.1", port))
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for _ in MODES:
        for _ in range(N):
            c.send(b"q")
            got = 0
            while got < 300:
                got += len(c.recv(4096))


def main() -> None:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    pid = os.fork()
    if pid == 0:
        receiver(port)
        os._exit(0)
    os.sched_setaffinity(0, {1})
    s, _ = srv.accept()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head, body = b"h" * 100, b"b" * 200
    for mode in MODES:
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        for _ in range(N):
            s.recv(1)
            if mode == 1:
                s.send(head + body)
            else:
                s.send(head)
                s.send(body)
        cpu = (time.thread_time() - cpu0) / N * 1e6
        wall = (time.perf_counter() - wall0) / N * 1e6
        print(f"{mode} send() per answer: {cpu:.1f} us sender CPU, {wall:.1f} us round trip")
    os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
