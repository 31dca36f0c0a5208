"""A matplotlib figure (log_figure) and an image array (log_image)."""

import io

from grader import text
from grader.checking import expect, fail
from grader.practice import Check
from grader.practice.helpers import head, object_bytes

ID = "images"
TITLE = {"en": "Log a figure and an image (log_figure, log_image)",
         "ja": "図と画像を記録する（log_figure、log_image）"}

PNG = b"\x89PNG\r\n\x1a\n"


def rgb(color) -> str:
    """A colour as RGB(…) writes it, in either language: 17, 233, 146."""
    return ", ".join(str(c) for c in color)


def values(rng):
    height = rng.randint(8, 32)
    width = rng.choice([w for w in range(8, 33) if w != height])
    drawn = {
        "run_name": f"{rng.choice(['plots', 'visual', 'pictures'])}-{rng.randint(100, 999)}",
        "fig_path": f"plots/{rng.choice(['curve', 'trend', 'points'])}-{rng.randint(1, 99)}.png",
        "ys": [rng.randint(0, 20) for _ in range(rng.randint(4, 7))],
        "img_path": f"images/{rng.choice(['swatch', 'tile', 'patch'])}-{rng.randint(1, 99)}.png",
        "height": height, "width": width,
        "color": [rng.randint(0, 255) for _ in range(3)],
    }
    return {**drawn, "rgb": rgb(drawn["color"])}  # the colour as a title writes it


TASK = {"en": """\
In a run named `$run_name`:

1. plot the values `$ys` (x = 0, 1, 2, …) as a line with matplotlib and log the figure with
   `mlflow.log_figure(fig, "$fig_path")`;
2. make an image $height pixels high and $width pixels wide, every pixel the RGB colour `$color`
   (`numpy.full((height, width, 3), color, dtype=numpy.uint8)`), and log it with
   `mlflow.log_image(image, artifact_file="$img_path")`.

Call `matplotlib.use("Agg")` before pyplot is imported: the script has no screen.
""", "ja": """\
`$run_name` という名前の run を開始し、その中で図と画像を 1 つずつ記録してください。

1. 図: 値 `$ys` を matplotlib の折れ線グラフにし（x は 0、1、2、…）、`mlflow.log_figure(fig, "$fig_path")` で記録します。
2. 画像: 高さ $height ピクセル、幅 $width ピクセルで、すべてのピクセルが RGB 値 `$color` の画像を作り（`numpy.full((height, width, 3), color, dtype=numpy.uint8)`）、`mlflow.log_image(image, artifact_file="$img_path")` で記録します。

採点ではスクリプトを画面のない環境で実行します。pyplot を import する前に `matplotlib.use("Agg")` を呼んでおいてください。
"""}

_IMPORTS = '''import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
'''

STUB = head(ID, _IMPORTS) + '''
# TODO 1: in the run from TASK.md, plot the values and log the figure.
#         TASK.md の run で、値をグラフにして図を記録してください。
#   API: fig, ax = plt.subplots(); ax.plot(values)
#        mlflow.log_figure(fig, "dir/name.png")

# TODO 2: make the one-colour image and log it.
#         単色の画像を作って記録してください。
#   API: image = np.full((height, width, 3), color, dtype=np.uint8)
#        mlflow.log_image(image, artifact_file="dir/name.png")
'''

SOLUTION = head(ID, _IMPORTS) + '''
with mlflow.start_run(run_name=$run_name):
    fig, ax = plt.subplots()
    ax.plot($ys)
    mlflow.log_figure(fig, $fig_path)
    image = np.full(($height, $width, 3), $color, dtype=np.uint8)
    mlflow.log_image(image, artifact_file=$img_path)
'''


def _figure(outcome, v):
    data = object_bytes(outcome, outcome.run_named(v["run_name"]), v["fig_path"])
    expect(data.startswith(PNG), "practice.not_png", path=v["fig_path"])


def _image(outcome, v):
    from PIL import Image

    data = object_bytes(outcome, outcome.run_named(v["run_name"]), v["img_path"])
    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
            pixel = list(img.convert("RGB").getpixel((0, 0)))
    except Exception:  # noqa: BLE001 - not an image at all is the learner's mistake
        fail("practice.not_png", path=v["img_path"])
    expect((height, width, pixel) == (v["height"], v["width"], v["color"]), "practice.image",
           path=v["img_path"], expected_height=v["height"], expected_width=v["width"],
           expected_color=text.Formatted(rgb(v["color"])), height=height, width=width, color=text.Formatted(rgb(pixel)))


CHECKS = [
    Check("figure", {"en": "the figure is a PNG at $fig_path", "ja": "図が PNG として $fig_path にある"},
          {"en": "mlflow.log_figure(fig, '$fig_path') inside the run",
           "ja": "run の中で mlflow.log_figure(fig, '$fig_path') を呼んでください"},
          _figure),
    Check("image", {"en": "$img_path is a $height x $width image in the colour RGB($rgb)",
                    "ja": "$img_path が高さ $height ピクセル、幅 $width ピクセル、色 RGB($rgb) の画像"},
          {"en": "np.full((height, width, 3), color, dtype=np.uint8): height first, then width; then mlflow.log_image(image, artifact_file='$img_path')",
           "ja": "np.full((height, width, 3), color, dtype=np.uint8) では高さを先に、幅を後に書きます。そのあと mlflow.log_image(image, artifact_file='$img_path') で記録してください"},
          _image),
]

FAULTS = [
    ("figure", [("mlflow.log_figure(fig, $fig_path)", "mlflow.log_figure(fig, 'figure.png')")]),
    ("image", [("np.full(($height, $width, 3)", "np.full(($width, $height, 3)")]),
]
