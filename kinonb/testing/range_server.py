"""A minimal HTTP server of byte ranges over a folder, bound to 127.0.0.1, for tests and benches of remote
reads: ``HEAD`` (size), ``GET`` with ``Range: bytes=a-b`` (206, read with ``os.pread``, so a request costs the same
whatever the file's size, as an object store's does). Nothing else: no listing, no writes, no paths outside the
folder.

    with RangeServer(folder) as server:
        db = kinonb.open(server.url("d.knb"))
"""

from __future__ import annotations

import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


class RangeServer:
    def __init__(self, folder):
        self.folder = Path(os.fspath(folder)).resolve()
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                return None  # no line on stderr per request (http.server's default)

            def _file(self):
                path = (server.folder / self.path.lstrip("/").split("?")[0]).resolve()
                if server.folder not in path.parents or not path.is_file():
                    self.send_error(404)
                    return None
                return path

            def do_HEAD(self):  # noqa: N802 (http.server's name)
                path = self._file()
                if path is not None:
                    self.send_response(200)
                    self.send_header("Content-Length", str(path.stat().st_size))
                    self.send_header("Accept-Ranges", "bytes")
                    self.end_headers()

            def do_GET(self):  # noqa: N802
                server.requests += 1
                path = self._file()
                if path is None:
                    return
                size = path.stat().st_size
                m = _RANGE.match(self.headers.get("Range", ""))
                a, b = (int(m.group(1)), int(m.group(2)) if m.group(2) else size - 1) if m else (0, size - 1)
                b = min(b, size - 1)
                if a > b:
                    self.send_error(416)
                    return
                fd = os.open(path, os.O_RDONLY)
                try:
                    data = os.pread(fd, b - a + 1, a)
                finally:
                    os.close(fd)
                self.send_response(206 if m else 200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Range", f"bytes {a}-{a + len(data) - 1}/{size}")
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
