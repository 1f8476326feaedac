#!/usr/bin/python3
"""Writes tests/data/images/*: small images encoded by Pillow (an encoder independent of stb),
which tests/io/image_test.cpp decodes with tinycnn::io::load_image and compares with the pattern
below, recomputed in C++.

  pattern(x, y) = (R, G, B) = ((7x + 3y) % 256, (5x + 11y) % 256, (x * y) % 256)   (sharp)
  smooth(x, y)  = (R, G, B) = (8x, 12y, 255 - 4x - 4y)                             (for JPEG)

Files (W x H = 24 x 16):
  rgb.png         RGB, pattern
  grey.png        L, grey = R of pattern
  grey_alpha.png  LA, grey = R, alpha = G
  rgba.png        RGBA, pattern, alpha = (x + y) * 9 % 256
  palette.png     P (indexed colour): 4x4-pixel blocks, block k = x // 4 + 6 * (y // 4) has
                  colour (10k, 255 - 10k, 37k % 256)
  grey16.png      I;16 (16-bit grey), value = 257 * R, so the 8-bit reduction gives R
  smooth.jpg      RGB, smooth, baseline, quality 95, 4:4:4
  smooth_progressive.jpg  the same, progressive
  smooth.bmp      RGB, smooth, 24-bit BMP
  smooth.ppm      RGB, smooth, binary PPM
  resized_WxH.png rgb.png resized by the float64 reference below (area filter on a shrinking
                  axis, bilinear between pixel centres on a growing one, rounded to nearest):
                  10x7 (both shrink by non-integer factors), 41x29 (both grow), 10x29 (mixed)

Deterministic: the same Pillow version writes the same bytes. Run from the repository root:
  /usr/bin/python3 tools/make_image_fixtures.py
"""
import os

import numpy as np
from PIL import Image

W, H = 24, 16
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "images")


def pattern():
    y, x = np.mgrid[0:H, 0:W]
    rgb = [(7 * x + 3 * y) % 256, (5 * x + 11 * y) % 256, (x * y) % 256]
    return np.stack(rgb, -1).astype(np.uint8)


def smooth():
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([8 * x, 12 * y, 255 - 4 * x - 4 * y], -1).astype(np.uint8)


def palette_pattern():
    # colour index k = x // 4 + 6 * (y // 4) (24 colours); colour k = (10k, 255 - 10k, 37k % 256)
    y, x = np.mgrid[0:H, 0:W]
    return ((x // 4) + 6 * (y // 4)).astype(np.uint8)


def resize_matrix(n_in, n_out):
    """(n_out, n_in) weights of one axis, as tinycnn::io::resize defines them."""
    m = np.zeros((n_out, n_in))
    s = n_in / n_out
    for o in range(n_out):
        if n_in > n_out:  # area: the overlap of [o s, (o + 1) s) with each input pixel
            lo, hi = o * s, (o + 1) * s
            for i in range(int(np.floor(lo)), min(n_in, int(np.ceil(hi)))):
                m[o, i] = max(0.0, min(hi, i + 1) - max(lo, i)) / s
        else:  # bilinear between pixel centres, edges repeated
            c = (o + 0.5) * s - 0.5
            i0 = int(np.floor(c))
            if i0 < 0:
                m[o, 0] = 1
            elif i0 >= n_in - 1:
                m[o, n_in - 1] = 1
            else:
                m[o, i0], m[o, i0 + 1] = 1 - (c - i0), c - i0
    return m


def resize_reference(img, w, h):
    x = img.astype(np.float64)
    x = np.einsum("pw,hwc->hpc", resize_matrix(img.shape[1], w), x)
    x = np.einsum("oh,hwc->owc", resize_matrix(img.shape[0], h), x)
    return np.floor(np.clip(x, 0, 255) + 0.5).astype(np.uint8)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = pattern()
    y, x = np.mgrid[0:H, 0:W]

    def save(img, name, **kw):
        img.save(os.path.join(OUT, name), **kw)

    save(Image.fromarray(p, "RGB"), "rgb.png", optimize=False)
    save(Image.fromarray(p[..., 0], "L"), "grey.png")
    save(Image.fromarray(np.stack([p[..., 0], p[..., 1]], -1), "LA"), "grey_alpha.png")
    alpha = ((x + y) * 9 % 256).astype(np.uint8)
    save(Image.fromarray(np.concatenate([p, alpha[..., None]], -1), "RGBA"), "rgba.png")

    idx = Image.fromarray(palette_pattern(), "P")
    k = np.arange(256)
    pal = np.stack([(10 * k) % 256, (255 - 10 * k) % 256, (37 * k) % 256], -1).astype(np.uint8)
    idx.putpalette(pal.reshape(-1).tolist())
    save(idx, "palette.png")

    grey16 = (p[..., 0].astype(np.uint16) * 257)
    save(Image.fromarray(grey16, "I;16"), "grey16.png")

    s = Image.fromarray(smooth(), "RGB")
    save(s, "smooth.jpg", quality=95, subsampling=0)
    save(s, "smooth_progressive.jpg", quality=95, subsampling=0, progressive=True)
    save(s, "smooth.bmp")
    save(s, "smooth.ppm")

    for w, h in [(10, 7), (41, 29), (10, 29)]:
        save(Image.fromarray(resize_reference(p, w, h), "RGB"), "resized_%dx%d.png" % (w, h))


if __name__ == "__main__":
    main()
