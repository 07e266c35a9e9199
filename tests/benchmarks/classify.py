"""Species classification of ~2,000 crops from 12 MP images with a MobileNet-sized model.

Three ways over the same JPEGs, boxes and model (MobileNetV3-Small, 224 px input, random
weights built here: nothing is downloaded), each after one warm-up batch:

* ``predict per crop``: decode each image in full with PIL, cut each box with
  ``square_crop``, one ``model.predict`` per crop.
* ``previous``: what classification did before the tf.data pipeline: PIL decode per
  image, ``square_crop``, ``model.predict`` on pages of 256 crops.
* ``tf.data + tf.function``: classifiers.services.inference.predictions (one DCT-scaled
  decode per image, crops cut in the graph, compiled forward pass per batch of 64).
* ``model alone``: the same compiled model on the same number of crops already cut and in
  memory, in the same batches: what classification would cost if reading, decoding and
  cutting were free (target: end to end ≥ 0.7× this).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, SIZE, CLASSES = 4000, 3000, 224, 20


def make_images(folder: Path, count: int, per_image: int):
    """``count`` 12 MP JPEGs with ``per_image`` boxes each: [(path, boxes)]."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(8)
    made = []
    for n in range(count):
        path = folder / f"IMG_{n:04}.JPG"
        boxes = []
        for _ in range(per_image):
            w, h = rng.uniform(0.05, 0.3), rng.uniform(0.05, 0.3)
            left, top = rng.uniform(0, 1 - w), rng.uniform(0, 1 - h)
            boxes.append((left, top, left + w, top + h))
        if not path.exists():
            small = np.random.default_rng(n).integers(40, 200, (75, 100, 3), dtype=np.uint8)
            img = PILImage.fromarray(small).resize((WIDTH, HEIGHT), PILImage.Resampling.BICUBIC)
            draw = ImageDraw.Draw(img)
            for left, top, right, bottom in boxes:
                draw.ellipse((left * WIDTH, top * HEIGHT, right * WIDTH, bottom * HEIGHT),
                             fill=tuple(rng.randrange(256) for _ in range(3)))
            img.save(path, "JPEG", quality=90)
        made.append((path, boxes))
    return made


def _pil_crops(images):
    from PIL import Image as PILImage

    from classifiers.services.classification import square_crop
    from classifiers.services.detectors import Box

    for path, boxes in images:
        with PILImage.open(path) as img:
            img.load()
            for box in boxes:
                yield square_crop(img, Box(*box, 1.0), SIZE)


def predict_per_crop(model, images) -> int:
    done = 0
    for crop in _pil_crops(images):
        model.predict(crop[None], verbose=0)
        done += 1
    return done


def previous(model, images) -> int:
    done, page = 0, []
    for crop in _pil_crops(images):
        page.append(crop)
        if len(page) == 256:
            model.predict(np.stack(page), verbose=0, batch_size=64)
            done, page = done + len(page), []
    if page:
        model.predict(np.stack(page), verbose=0, batch_size=64)
    return done + len(page)


def pipeline(loaded, images) -> int:
    from classifiers.services.inference import ImageBoxes, predictions

    items = [ImageBoxes(str(path), list(range(len(boxes))), boxes, WIDTH, HEIGHT)
             for path, boxes in images]
    return sum(len(ids) for ids, _, _ in predictions(
        loaded, items, SIZE, "raw", read=lambda key: Path(key).read_bytes()))


def model_alone(loaded, images) -> int:
    from django.conf import settings

    count = sum(len(boxes) for _, boxes in images)
    crops = np.random.default_rng(3).uniform(0, 255, (min(count, 256), SIZE, SIZE, 3))
    crops = crops.astype(np.float32)
    batch, done = settings.CLASSIFY_BATCH, 0
    while done < count:
        n = min(batch, count - done)
        start = done % len(crops)
        chunk = crops[start:start + n]
        np.asarray(loaded.predict(chunk)[0])
        done += len(chunk)
    return done


def bench_classify(crops: int, tmp: Path) -> None:
    import keras

    from classifiers.services.inference import load_model_file

    per_image = 10
    start = time.perf_counter()
    images = make_images(tmp / "classify", max(1, crops // per_image), per_image)
    print(f"\nClassification: {len(images)} JPEGs of {WIDTH}x{HEIGHT}, {per_image} boxes each "
          f"(made in {time.perf_counter() - start:.0f} s)")
    keras.utils.set_random_seed(1)
    net = keras.applications.MobileNetV3Small(input_shape=(SIZE, SIZE, 3), weights=None,
                                              classes=CLASSES)
    path = tmp / "mobilenet.keras"
    net.save(path)
    model = keras.models.load_model(path, compile=False)
    loaded = load_model_file(str(path))
    warm = images[:1]
    rates = {}
    for label, run, target in [("predict per crop", predict_per_crop, model),
                               ("previous (PIL + predict pages)", previous, model),
                               ("tf.data + tf.function", pipeline, loaded),
                               ("model alone (crops in memory)", model_alone, loaded)]:
        run(target, warm)  # tracing and first-call costs stay out of the figure
        start = time.perf_counter()
        done = run(target, images)
        seconds = time.perf_counter() - start
        rates[label] = done / seconds
        print(f"{label:32} {done:6} crops {seconds:7.1f} s {rates[label]:7.1f} crops/s")
    ours = rates["tf.data + tf.function"]
    print(f"tf.data + tf.function / predict per crop: {ours / rates['predict per crop']:5.1f}x "
          "(target ≥ 3x)")
    print(f"tf.data + tf.function / previous:         "
          f"{ours / rates['previous (PIL + predict pages)']:5.1f}x")
    print(f"tf.data + tf.function / model alone:      "
          f"{ours / rates['model alone (crops in memory)']:5.2f}x (target ≥ 0.7x)")
