"""Deterministic generator for the hands-on sample data.

Writes, next to this script:
  * sample.png      - small RGB image (gradient + a few shapes)
  * regression.csv  - 200 rows, header ``x1,x2,x3,y``; y is a noisy linear
                      function of standard-scaled features x1..x3.

Rows 1-160 are meant for training and rows 161-200 for validation.
Running the script twice produces byte-identical files.

Usage: python data/make_data.py   (works from any working directory)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SEED = 20240531
N_ROWS = 200
COEFS = (3.0, -2.0, 1.5)
INTERCEPT = 0.5
NOISE_STD = 0.3
DECIMALS = 6

HERE = Path(__file__).resolve().parent


def make_image(path: Path) -> None:
    width, height = 64, 48
    xs = np.linspace(0, 255, width)
    ys = np.linspace(0, 255, height)
    gx, gy = np.meshgrid(xs, ys)
    rgb = np.stack([gx, gy, 255 - (gx + gy) / 2], axis=-1)
    img = Image.fromarray(np.round(rgb).astype(np.uint8), mode="RGB")
    draw = ImageDraw.Draw(img)
    draw.rectangle((6, 6, 22, 20), fill=(255, 255, 255))
    draw.ellipse((36, 10, 56, 30), fill=(20, 20, 20))
    draw.polygon([(10, 42), (26, 26), (42, 42)], fill=(250, 200, 0))
    # No text chunks / timestamps: output depends only on pixels and options.
    img.save(path, format="PNG", optimize=False, compress_level=9)


def make_regression(path: Path) -> None:
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((N_ROWS, len(COEFS)))
    noise = rng.normal(0.0, NOISE_STD, N_ROWS)
    y = INTERCEPT + X @ np.asarray(COEFS) + noise
    fmt = f"{{:.{DECIMALS}f}}"
    lines = ["x1,x2,x3,y"]
    for row, target in zip(X, y):
        lines.append(",".join(fmt.format(float(v)) for v in (*row, target)))
    path.write_text("\n".join(lines) + "\n", encoding="ascii", newline="\n")


def main() -> None:
    png_path = HERE / "sample.png"
    csv_path = HERE / "regression.csv"
    make_image(png_path)
    make_regression(csv_path)
    print(f"wrote {png_path} ({png_path.stat().st_size} bytes)")
    print(f"wrote {csv_path} ({csv_path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
