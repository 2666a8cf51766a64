"""See what the board sees, live: a small web page (standard library HTTP server) with the
camera's frame, the box mnistify found, the 28x28 the network was given, a bar of each
score, the answer, its confidence and frames per second.

Where the pieces come from (`gentlenet watch`):
  - the camera on this computer, the network on the board: the frame is grabbed here,
    sent with CLASSIFY (digit), and the board's 28x28 and scores are checked against the
    host's reference (the same integer code on CPython);
  - the camera on this computer, no board (--local): the host reference only;
  - the camera wired to the board: SNAP digit frame brings the frame and the 28x28 back
    (device/PROTOCOL.md), CRC-checked, and compared with the host's reference too.

The page polls /view.json (the latest view) and draws it; every view says whether the
board's bytes equal the host's. The page marks its state in data- attributes of <body>
(frames drawn, the frame's and the 28x28's CRC-32) so a headless browser can check it.
"""
from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from firmware_tools import classify
from firmware_tools.cameras import CameraError


def view(grey, q, answer=None, where="host"):
    """The live view of one frame: what the page draws, as a JSON-ready dict. answer: the
    board's (CLASSIFY or SNAP with digit), compared with the host reference."""
    from device import mnistify

    h, w = grey.shape
    info = {}
    digit = bytes(mnistify.mnistify(np.ascontiguousarray(grey).tobytes(), w, h, info=info))
    ref = classify.reference(q, grey)  # the same mnistify: its 28x28 is `digit`
    a = answer or ref
    seen = a["digit"] if answer is not None and "digit" in answer else digit
    return {"width": w, "height": h, "frame": base64.b64encode(np.ascontiguousarray(grey).tobytes()).decode(),
            "frame_crc": binascii.crc32(np.ascontiguousarray(grey).tobytes()) & 0xFFFFFFFF,
            "box": info.get("box"), "digit": base64.b64encode(seen).decode(),
            "digit_crc": binascii.crc32(seen) & 0xFFFFFFFF, "labels": list(q.labels), "scores": a["scores"],
            "label": a["label"], "confidence": a["confidence"], "where": where,
            "agree": None if answer is None else (a["scores"] == ref["scores"] and seen == digit)}


class Live:
    """The latest view and the frame rate, shared by the capture loop and the server."""

    def __init__(self):
        self._lock = threading.Lock()
        self._view = None
        self._times = []
        self.frames = 0
        self.error = None

    def put(self, v):
        with self._lock:
            self.frames += 1
            now = time.time()
            self._times = [t for t in self._times if now - t < 5] + [now]
            fps = (len(self._times) - 1) / (now - self._times[0]) if len(self._times) > 1 else 0.0
            self._view = dict(v, n=self.frames, fps=round(fps, 2), error=None)

    def json(self):
        with self._lock:
            v = self._view or {"n": 0}
            if self.error:
                v = dict(v, error=self.error)
            return json.dumps(v).encode()


def grabber(camera=None, board=None, q=None, board_camera=False):
    """A function that returns one view each call, from whichever pieces are given."""
    from firmware_tools import boardclient

    limit = board.info()["frame_bytes"] if board is not None else 1 << 30

    def grab():
        if board_camera:
            a = board.snap(digit=True, frame=True)
            grey = np.frombuffer(a["frame"], np.uint8).reshape(a["height"], a["width"])
            return view(grey, q, a, "board's camera, board")
        grey = classify.fit(camera.grab().grey, limit)
        if board is None:
            return view(grey, q)
        a = board.classify(grey, digit=True)
        a["digit"] = boardclient.decoded(a, "digit", "digit_crc", 784)
        return view(grey, q, a, "board")
    return grab


def capture(grab, live, stop, frames=None, log=print):
    """Views into `live` until `stop` is set or `frames` are done; a camera or board error
    is shown on the page and retried a second later (a wiggled cable), never fatal."""
    from firmware_tools.boardclient import BoardError

    while not stop.is_set() and (frames is None or live.frames < frames):
        try:
            live.put(grab())
            live.error = None
        except (CameraError, BoardError, OSError) as e:
            live.error = str(e)
            log("live view: %s; trying again" % e)
            stop.wait(1.0)


def serve(live, host="127.0.0.1", port=8000):
    """The page and /view.json on host:port (0: any free port); returns the server, its
    thread already serving. server.server_address[1] is the port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/":
                body, kind = PAGE.encode(), "text/html; charset=utf-8"
            elif path == "/view.json":
                body, kind = live.json(), "application/json"
            else:
                self.send_error(404, "the live view has / and /view.json")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # quiet: the terminal shows the frames, not the requests
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    server.timeout = 1.0
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    return server


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>gentlenet: what the board sees</title>
<style>
body { font-family: sans-serif; margin: 1em; background: #f6f6f2; color: #222; }
.row { display: flex; gap: 1.5em; align-items: flex-start; }
canvas { image-rendering: pixelated; background: #000; border: 1px solid #888; }
#bars div { display: flex; align-items: center; height: 22px; }
#bars span.l { width: 1.5em; text-align: right; margin-right: .4em; }
#bars span.b { background: #7a9; height: 16px; }
#bars .top span.b { background: #d60; }
#answer { font-size: 2.5em; font-weight: bold; }
.bad { color: #b00; }
</style></head>
<body data-frames="0">
<h2>gentlenet: what the board sees</h2>
<div class="row">
 <div><div>the frame, the box found</div><canvas id="frame" width="320" height="240"></canvas></div>
 <div><div>the 28x28 the network was given</div><canvas id="digit" width="224" height="224"></canvas></div>
 <div><div>scores</div><div id="bars"></div></div>
 <div><div>answer</div><div id="answer">-</div><div id="conf"></div><div id="fps"></div>
  <div id="where"></div><div id="agree"></div><div id="error" class="bad"></div></div>
</div>
<script>
function grey(canvas, b64, w, h, scale) {
  var bytes = atob(b64), c = canvas.getContext("2d");
  var img = c.createImageData(w, h);
  for (var i = 0; i < w * h; i++) {
    var v = bytes.charCodeAt(i);
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v; img.data[4 * i + 3] = 255;
  }
  var tmp = document.createElement("canvas"); tmp.width = w; tmp.height = h;
  tmp.getContext("2d").putImageData(img, 0, 0);
  canvas.width = w * scale; canvas.height = h * scale;
  c.imageSmoothingEnabled = false;
  c.drawImage(tmp, 0, 0, w * scale, h * scale);
  return c;
}
function show(v) {
  document.getElementById("error").textContent = v.error || "";
  if (!v.n) return;
  var s = Math.max(1, Math.floor(320 / v.width));
  var c = grey(document.getElementById("frame"), v.frame, v.width, v.height, s);
  if (v.box) {
    c.strokeStyle = "#f33"; c.lineWidth = 2;
    c.strokeRect(v.box[0] * s, v.box[1] * s, (v.box[2] - v.box[0] + 1) * s, (v.box[3] - v.box[1] + 1) * s);
  }
  grey(document.getElementById("digit"), v.digit, 28, 28, 8);
  var bars = document.getElementById("bars"), top = v.scores.indexOf(Math.max.apply(null, v.scores));
  bars.innerHTML = "";
  v.scores.forEach(function (x, i) {
    var d = document.createElement("div"); if (i === top) d.className = "top";
    d.innerHTML = '<span class="l"></span><span class="b"></span> <small></small>';
    d.children[0].textContent = v.labels[i]; d.children[1].style.width = (x + 128) + "px";
    d.children[2].textContent = x; bars.appendChild(d);
  });
  document.getElementById("answer").textContent = v.label;
  document.getElementById("conf").textContent = Math.round(100 * v.confidence) + " % sure";
  document.getElementById("fps").textContent = v.fps.toFixed(1) + " frames a second, frame " + v.n;
  document.getElementById("where").textContent = "read on: " + v.where;
  var a = document.getElementById("agree");
  a.textContent = v.agree === null ? "" : v.agree ? "board = host reference" : "board DIFFERS from the host";
  a.className = v.agree === false ? "bad" : "";
  document.body.dataset.frames = String(v.n);
  document.body.dataset.frameCrc = String(v.frame_crc);
  document.body.dataset.digitCrc = String(v.digit_crc);
}
function poll() {
  fetch("view.json", {cache: "no-store"}).then(function (r) { return r.json(); })
    .then(function (v) { show(v); setTimeout(poll, 150); })
    .catch(function (e) { document.getElementById("error").textContent = "no answer: " + e; setTimeout(poll, 1000); });
}
poll();
</script></body></html>
"""
