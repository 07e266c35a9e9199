"""Checking an uploaded model in a short-lived child process, never in the web process.

Registration must load and run an uploaded model once (its input size, its
outputs, a trial pass) and a model is a program, so ``run_model_check`` hands
the file to a child Python process with:

* a wall-clock deadline (settings.MODEL_CHECK_SECONDS), after which the child's
  whole process group is killed;
* an address-space cap it sets on itself before importing TensorFlow
  (settings.MODEL_CHECK_MEMORY_MB, RLIMIT_AS), no core files, and a file-size
  cap of MODEL_ZIP_MAX_BYTES;
* a scratch folder as its working folder, HOME and TMPDIR (under
  settings.MODEL_CHECK_SCRATCH_DIR), removed when it ends;
* an environment of its own: no database address, secret key or cloud
  credentials of the parent, no GPU; the few settings it needs travel in its
  request.

Inside, the file goes through the same code as a worker's (modelfiles: zip
limits, the graph check before any load, Keras safe mode). The child answers
with one JSON line; a refusal is ``{"error": ...}`` and becomes the
ClassifierError the admin form or the command shows. Run as
``python -m classifiers.services.sandbox`` with the request on stdin.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from ..exceptions import ClassifierError
from .modelfiles import MAX_MODEL_BYTES, model_suffix

RESULT = "MODEL-CHECK-RESULT "
# Settings the child's code reads (services.modelfiles), handed over in the request.
CHILD_SETTINGS = ("MODEL_ZIP_MAX_BYTES", "MODEL_ZIP_MAX_FILES", "MODEL_ZIP_MAX_RATIO",
                  "DETECT_BATCH", "CLASSIFY_BATCH")


def run_model_check(kind: str, filename: str, data: bytes, options: dict) -> dict:
    """Load and probe an uploaded model (``kind`` "classifier" or "detector") in a child.

    ``options`` are the keyword arguments of the child's check (see CHECKS).
    Returns its findings; raises ClassifierError naming ``filename`` when the
    model is refused, or naming the setting when the child ran out of time or
    memory.
    """
    from django.conf import settings

    if len(data) > MAX_MODEL_BYTES:
        raise ClassifierError(f"{filename}: larger than {MAX_MODEL_BYTES // 1024**2} MB.")
    suffix = model_suffix(filename, kind)
    scratch = tempfile.mkdtemp(prefix="model-check-", dir=settings.MODEL_CHECK_SCRATCH_DIR or None)
    try:
        path = os.path.join(scratch, "upload" + suffix)
        with open(path, "wb") as fh:
            fh.write(data)
        request = {"kind": kind, "path": path, "options": options,
                   "memory_mb": settings.MODEL_CHECK_MEMORY_MB,
                   "settings": {name: getattr(settings, name) for name in CHILD_SETTINGS}}
        result = _run_child(request, scratch, settings)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if "error" in result:
        raise ClassifierError(f"{filename}: {result['error']}")
    return result


def _child_env(scratch: str, base_dir: str) -> dict:
    """A fresh environment: none of the server's secrets, no GPU, the scratch as HOME/TMPDIR."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
            "HOME": scratch, "TMPDIR": scratch, "PYTHONPATH": base_dir,
            "CUDA_VISIBLE_DEVICES": "-1", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONDONTWRITEBYTECODE": "1"}


def _run_child(request: dict, scratch: str, settings) -> dict:
    seconds = settings.MODEL_CHECK_SECONDS
    child = subprocess.Popen(
        # -P: the scratch folder (its working folder) is not put on the import path.
        [sys.executable, "-P", "-m", "classifiers.services.sandbox"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=scratch,
        env=_child_env(scratch, str(settings.BASE_DIR)), start_new_session=True)
    try:
        out, err = child.communicate(json.dumps(request).encode(), timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise ClassifierError(f"Checking the model took longer than MODEL_CHECK_SECONDS "
                              f"({seconds} s) allows; it was stopped. A model that needs "
                              "longer to load and run once cannot be registered here.") from None
    for line in reversed(out.decode("utf-8", "replace").splitlines()):
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT):])
    last = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:300]
    raise ClassifierError(
        f"The model's check stopped (exit status {child.returncode}) before giving a verdict; "
        f"it may need more memory than MODEL_CHECK_MEMORY_MB ({settings.MODEL_CHECK_MEMORY_MB} "
        f"MB) allows. {last}".strip())


# --- the child ---------------------------------------------------------------------------
def check_classifier_file(path: str, input_size: int | None) -> dict:
    """Load a classifier's model and probe it: its crop size and its number of outputs."""
    from .inference import load_model_file

    model = load_model_file(path, input_size)
    return {"size": model.size, "outputs": model.outputs}


def check_detector_file(path: str, input_size: int | None, output_format: str, box_order: str,
                        category_map: dict, nms_iou: float) -> dict:
    """Load a detector's model, probe it against its declared output format, and run the
    whole compiled pass once."""
    import tensorflow as tf

    from .detector_inference import compile_detector, load_detector_file

    probed = load_detector_file(path, input_size, output_format)
    run = compile_detector(probed, box_order=box_order, category_map=category_map,
                           nms_iou=nms_iou)
    batch = 1 if probed.batch_one else 2
    run_error = None
    try:
        run(tf.zeros([batch, probed.size, probed.size, 3]), tf.constant(
            [[0.0, 0.0, probed.size, probed.size]] * batch))
    except Exception as exc:  # TensorFlow's own error names what failed
        if _out_of_memory(exc):
            raise
        run_error = str(exc)
    return {"size": probed.size, "output_format": str(probed.output_format),
            "classes": probed.classes, "batch_one": probed.batch_one, "run_error": run_error}


CHECKS = {"classifier": check_classifier_file, "detector": check_detector_file}


def _out_of_memory(exc: BaseException | None) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, MemoryError) or type(exc).__name__ == "ResourceExhaustedError":
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def _limit_self(memory_mb: int, file_bytes: int) -> None:
    import resource

    memory = memory_mb * 1024**2
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))


def main() -> None:
    request = json.loads(sys.stdin.read())
    _limit_self(request["memory_mb"], request["settings"]["MODEL_ZIP_MAX_BYTES"])
    from django.conf import settings

    settings.configure(**request["settings"])
    try:
        result = CHECKS[request["kind"]](request["path"], **request["options"])
    except Exception as exc:  # every refusal goes back as a verdict, whatever raised it
        if _out_of_memory(exc):
            result = {"error": f"checking the model needed more memory than "
                               f"MODEL_CHECK_MEMORY_MB ({request['memory_mb']} MB) allows."}
        elif isinstance(exc, ClassifierError):
            result = {"error": str(exc)}
        else:
            result = {"error": f"the model could not be checked: {type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + RESULT + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
