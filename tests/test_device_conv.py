"""device/gnet_conv.py, the board's reference kernels of a ConvNet's layers, on CPython and
on the real MicroPython: byte for byte trainer/qlayers.py's numpy reference, layer by layer
(a strided and a plain 'same' conv, a max pool, a 'valid' conv, a global average). Whole
models through gnet.py: tests/test_device_convnet.py."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, micropython, small_convnet

SPEC = "conv4s2,pool,conv6,conv5v,gap,dense10"


@pytest.fixture(scope="module")
def case(mnist):
    from trainer import layers as L
    from trainer import qlayers

    net, digits = small_convnet(mnist, SPEC)
    rec = qlayers.quantize_net(net, digits)
    images = mnist[1].images[:3]
    # every layer's int8 output, by the numpy reference, for the images: (n, ...) each
    want = [qlayers.reference(rec[:k + 1], images) for k in range(len(rec) - 1)]
    steps, shape, zx = [], (28, 28, 1), -128
    for r in rec[:-1]:
        h, w, c = shape
        if r["kind"] == "conv":
            oh, pt, _ = L.pads(h, r["stride"], r["padding"])
            ow, pl, _ = L.pads(w, r["stride"], r["padding"])
            co = len(r["W"])
            steps.append(("conv", dict(g=(h, w, c, oh, ow, co, r["stride"], pt, pl), W=r["W"].ravel().tolist(),
                                       K=r["bias"].tolist(), M=r["M"].tolist(), S=r["S"].tolist(),
                                       zero=int(r["zero"]), zx=zx, co=co)))
            shape, zx = (oh, ow, len(r["W"])), int(r["zero"])
        elif r["kind"] == "pool":
            steps.append(("pool", dict(g=(h, w, c, h // 2, w // 2, c, 0, 0, 0))))
            shape = (h // 2, w // 2, c)
        else:
            steps.append(("gap", dict(g=(h, w, c, 1, 1, c, 0, 0, 0))))
            shape = (c,)
    return images, steps, want


DRIVER = """
import sys
sys.path.insert(0, %(device)r)
import gnet_conv
from array import array
steps = %(steps)r
for img in %(images)r:
    x = array('b', [v - 128 for v in img])
    for kind, p in steps:
        g = p['g']
        out = array('b', bytes(g[3] * g[4] * g[5]))
        if kind == 'conv':
            # the output channels in two calls (rows 0..1, then the rest), as a model's weights
            # in chunks: each call writes only its own channels
            W, n = array('b', p['W']), 9 * g[2]
            for c0, rows in ((0, 2), (2, p['co'] - 2)):
                gnet_conv.conv3x3(x, g, W[c0 * n:(c0 + rows) * n], c0, rows, p['K'], p['M'], p['S'], p['zero'],
                                  p['zero'], p['zx'], out)
        elif kind == 'pool':
            gnet_conv.maxpool2(x, g, out)
        else:
            gnet_conv.gap(x, g, out)
        print(kind, ' '.join([str(v) for v in out]))
        x = out
"""


def run(interpreter, case, tmp_path):
    images, steps, want = case
    script = tmp_path / "driver.py"
    script.write_text(DRIVER % dict(device=os.path.join(ROOT, "device"), steps=steps,
                                    images=[img.ravel().tolist() for img in images]))
    r = subprocess.run([interpreter, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split("\n")
    for n in range(len(images)):
        for k, (kind, _) in enumerate(steps):
            name, *values = lines[n * len(steps) + k].split(" ")
            assert name == kind
            assert [int(v) for v in values] == want[k][n].ravel().tolist(), (n, kind)


def test_conv_kernels_on_cpython_equal_the_reference(case, tmp_path):
    run(sys.executable, case, tmp_path)


def test_conv_kernels_on_micropython_equal_the_reference(case, tmp_path):
    run(micropython(), case, tmp_path)
