"""device/gnet_conv.py, the board's reference kernels of a ConvNet's layers, on CPython and
on the real MicroPython: byte for byte trainer/qlayers.py's numpy reference, layer by layer
(a strided and a plain 'same' conv, a max pool, a 'valid' conv, a global average)."""
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
            steps.append(("conv", dict(h=h, w=w, c=c, W=r["W"].ravel().tolist(), K=r["bias"].tolist(),
                                       M=r["M"].tolist(), S=r["S"].tolist(), zero=int(r["zero"]), stride=r["stride"],
                                       pt=pt, pl=pl, zx=zx, oh=oh, ow=ow, co=len(r["W"]))))
            shape, zx = (oh, ow, len(r["W"])), int(r["zero"])
        elif r["kind"] == "pool":
            steps.append(("pool", dict(h=h, w=w, c=c)))
            shape = (h // 2, w // 2, c)
        else:
            steps.append(("gap", dict(h=h, w=w, c=c)))
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
        if kind == 'conv':
            out = array('b', bytes(p['oh'] * p['ow'] * p['co']))
            gnet_conv.conv3x3(x, p['h'], p['w'], p['c'], array('b', p['W']), p['K'], p['M'], p['S'], p['zero'],
                              p['stride'], p['pt'], p['pl'], p['zx'], out, p['oh'], p['ow'], p['co'])
        elif kind == 'pool':
            out = array('b', bytes((p['h'] // 2) * (p['w'] // 2) * p['c']))
            gnet_conv.maxpool2(x, p['h'], p['w'], p['c'], out)
        else:
            out = array('b', bytes(p['c']))
            gnet_conv.gap(x, p['h'], p['w'], p['c'], out)
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
