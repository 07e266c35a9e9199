"""Build and train the small demo species classifier (TensorFlow/Keras, CPU is enough).

The model is trained here on synthetic crops (training.synthetic) cut exactly
as classification cuts detections (square, black-padded), so no weights are
ever downloaded.
"""

from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from classifiers.models import Classifier
from classifiers.services.classification import square_crop
from classifiers.services.detectors import Box

from ..synthetic import SPECIES, training_frames

DEMO_NAME = "Demo savanna classifier"
INPUT_SIZE = 64


@dataclass
class TrainingReport:
    classifier: Classifier
    created: bool
    accuracy: float | None


def _dataset(per_class: int, seed: int):
    rng = random.Random(seed)
    xs, ys = [], []
    for img, (x0, y0, x1, y1), species in training_frames(per_class, seed=seed):
        w, h = img.size
        # Detector boxes are loose: jitter the true box as a detector would.
        jitter = [rng.uniform(-0.08, 0.08) * (x1 - x0) for _ in range(4)]
        box = Box(
            max(0.0, (x0 + jitter[0]) / w), max(0.0, (y0 + jitter[1]) / h),
            min(1.0, (x1 + jitter[2]) / w), min(1.0, (y1 + jitter[3]) / h), 1.0,
        )
        xs.append(square_crop(img, box, INPUT_SIZE))
        ys.append(SPECIES.index(species))
    return np.stack(xs), np.array(ys)


def build_model(classes: int):
    import keras

    return keras.Sequential([
        keras.Input((INPUT_SIZE, INPUT_SIZE, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax"),
    ])


def do_build_demo_classifier(*, per_class: int = 120, epochs: int = 12, seed: int = 3,
                             rebuild: bool = False) -> TrainingReport:
    """Train the demo classifier and register it (shared by every organisation).

    Reuses an existing one unless ``rebuild``. Returns the held-out accuracy.
    """
    existing = Classifier.objects.filter(name=DEMO_NAME).first()
    if existing and not rebuild and default_storage.exists(existing.model_key):
        return TrainingReport(existing, False, None)
    import keras

    keras.utils.set_random_seed(seed)
    x, y = _dataset(per_class, seed)
    order = np.random.default_rng(seed).permutation(len(y))
    x, y = x[order], y[order]
    split = int(len(y) * 0.8)
    model = build_model(len(SPECIES))
    model.compile(optimizer=keras.optimizers.Adam(0.003),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:split], y[:split], epochs=epochs, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x[split:], y[split:], verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "demo.keras")
        model.save(path)
        with open(path, "rb") as fh:
            key = default_storage.save("classifiers/demo-savanna.keras", ContentFile(fh.read()))
    if existing:
        old_key = existing.model_key
        existing.model_key, existing.classes = key, list(SPECIES)
        existing.input_size = INPUT_SIZE
        existing.save()
        if old_key != key and default_storage.exists(old_key):
            default_storage.delete(old_key)
        return TrainingReport(existing, False, float(accuracy))
    classifier = Classifier.objects.create(
        name=DEMO_NAME, model_key=key, classes=list(SPECIES), input_size=INPUT_SIZE,
        threshold=0.5,
        description="Trained by TrapTagger on synthetic scenes; recognises the demo species.",
    )
    return TrainingReport(classifier, True, float(accuracy))
