"""Random small distortions of a batch of digits, made fresh for every batch.

Each digit gets its own rotation, scale, shear and shift, plus a smooth random "elastic"
displacement (a 5x5 grid of random offsets, bilinearly upsampled to 28x28), then is
resampled bilinearly. With stroke, a share of the batch is then drawn with a wider or a
thinner pen: half of it moved a random part of the way to one grey dilation (the most of a
pixel and its 4 neighbours), half to one erosion (the least): a marker's strokes and a fine
pen's, as a camera's frames bring them through mnistify. Only one batch of float32 images
exists at a time: the training set is never copied or enlarged.
"""
from __future__ import annotations

import numpy as np

SIDE = 28
_C = (SIDE - 1) / 2  # the rotation centre, 13.5


class Augment:
    def __init__(self, rotate=12.0, shift=2.5, scale=0.12, shear=0.2, elastic=1.2, stroke=0.0):
        """rotate: +/- degrees (the book uses 10); shift: +/- pixels; scale: +/- fraction;
        shear: +/- x-shear factor; elastic: std of the smooth displacement, pixels (0 = off);
        stroke: the share of each batch drawn with a wider or thinner pen (0 = off: the
        random numbers drawn, and so the network trained, as without it)."""
        self.rotate, self.shift, self.scale, self.shear, self.elastic = rotate, shift, scale, shear, elastic
        self.stroke = stroke
        yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
        self._x, self._y = xx - _C, yy - _C  # (28, 28) destination coordinates about the centre
        t = np.linspace(0, 4, SIDE, dtype=np.float32)  # 28 points along the 5-point grid
        self._g0 = np.minimum(t.astype(np.int64), 3)
        self._gf = t - self._g0

    def settings(self):
        return {
            "rotate": self.rotate, "shift": self.shift, "scale": self.scale, "shear": self.shear,
            "elastic": self.elastic, "stroke": self.stroke
        }

    def __call__(self, images, rng):
        """images: (n, 28, 28) uint8 -> (n, 28, 28) float32 on the same 0..255 scale."""
        n = len(images)
        f32 = np.float32

        def u(r):
            return rng.uniform(-r, r, n).astype(f32)

        a = np.deg2rad(u(self.rotate))
        sy = 1 + u(self.scale)
        sx = sy * (1 + u(self.scale / 2))  # a little independent x scale: thinner/wider
        sh = u(self.shear)
        tx, ty = u(self.shift), u(self.shift)
        c, s = np.cos(a), np.sin(a)
        # Forward map A = R(a) @ [[sx, sx*sh], [0, sy]]; we sample the source at A^-1 (dest - t).
        a00, a01, a10, a11 = c * sx, c * sx * sh - s * sy, s * sx, s * sx * sh + c * sy
        det = a00 * a11 - a01 * a10
        i00, i01, i10, i11 = (v[:, None, None] for v in (a11 / det, -a01 / det, -a10 / det, a00 / det))
        dx = self._x[None] - tx[:, None, None]  # (n, 28, 28)
        dy = self._y[None] - ty[:, None, None]
        src_x = i00 * dx + i01 * dy + _C
        src_y = i10 * dx + i11 * dy + _C
        if self.elastic:
            g = rng.standard_normal((n, 2, 5, 5)).astype(f32) * f32(self.elastic)
            g0, gf = self._g0, self._gf
            g = g[:, :, g0, :] * (1 - gf)[:, None] + g[:, :, g0 + 1, :] * gf[:, None]  # rows: (n, 2, 28, 5)
            g = g[..., g0] * (1 - gf) + g[..., g0 + 1] * gf  # cols: (n, 2, 28, 28)
            src_x += g[:, 0]
            src_y += g[:, 1]
        out = bilinear(images, src_x, src_y)
        return pen(out, self.stroke, rng) if self.stroke else out


def pen(images, share, rng):
    """(n, 28, 28) float32 -> the same, a share of them with wider or thinner strokes: each
    of those moved a random part (0..1) of the way to its grey dilation or erosion over the
    4-neighbourhood (half each)."""
    n = len(images)
    p = np.pad(images, ((0, 0), (1, 1), (1, 1)))  # outside is 0, as in bilinear
    around = (p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:])  # up, down, left, right
    r = rng.uniform(0, 1, n)
    t = rng.uniform(0, 1, n).astype(np.float32)[:, None, None]
    wide = (r < share / 2)[:, None, None]
    thin = ((r >= share / 2) & (r < share))[:, None, None]
    out = np.where(wide, images + t * (np.maximum.reduce((images,) + around) - images), images)
    return np.where(thin, images - t * (images - np.minimum.reduce((images,) + around)), out)


def bilinear(images, src_x, src_y):
    """Sample (n, 28, 28) images at float coordinates (n, 28, 28); outside is 0."""
    n = len(images)
    padded = np.zeros((n, SIDE + 2, SIDE + 2), np.float32)  # a ring of zeros around each digit
    padded[:, 1:-1, 1:-1] = images
    # Points beyond the ring read the ring's zeros only (else clipping would read the edge).
    src_x = np.where((src_x > -1) & (src_x < SIDE), src_x, np.float32(-1))
    src_y = np.where((src_y > -1) & (src_y < SIDE), src_y, np.float32(-1))
    x0 = np.floor(src_x)
    y0 = np.floor(src_y)
    fx, fy = src_x - x0, src_y - y0
    x0 = x0.astype(np.int64) + 1  # +1: the ring
    y0 = y0.astype(np.int64) + 1
    k = np.arange(n)[:, None, None]
    top = padded[k, y0, x0] * (1 - fx) + padded[k, y0, x0 + 1] * fx
    bottom = padded[k, y0 + 1, x0] * (1 - fx) + padded[k, y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy
