"""Step 3 — mistake: "it's an image, so use log_image": the PNG is decoded with Pillow and
re-encoded by mlflow.log_image, so the stored bytes are not the original file's."""

import os

import mlflow
from PIL import Image

mlflow.set_experiment(os.environ["HANDSON_EXPERIMENT"])

with mlflow.start_run(run_name="SampleB"):
    mlflow.log_text("Hello world", "file1.txt")
    mlflow.log_dict({"var1": 1.0, "var2": "fugafuga"}, "file2.json")
    image = Image.open(os.path.join(os.environ["HANDSON_DATA_DIR"], "sample.png"))
    mlflow.log_image(image, "sample.png")
