"""SavedModels that try to do more than compute, and a TF1 one that only computes.

Each is built here (nothing is downloaded) and zipped as a user would upload
it. The hostile ones reach a file, Python or the saver from their serving
function, from a function it calls, from another signature or from an init op;
``spin`` and ``hog`` only compute, but forever or with 2 GB per image.
``SIDE``-pixel RGB in, four class scores out, so that a classifier would accept
each of them were it not for what it does besides.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.classifiers.models import zip_folder

SIDE, CLASSES = 8, 4


def _module(variant: str, target: str):
    import tensorflow as tf

    spec = tf.TensorSpec([None, SIDE, SIDE, 3], tf.float32)

    def scores(images, w):
        return tf.nn.softmax(tf.reduce_mean(images, axis=[1, 2]) @ w)

    class Net(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(tf.ones([3, CLASSES]))

        @tf.function(input_signature=[spec])
        def serve(self, images):
            out = scores(images, self.w)
            if variant == "write_file":
                with tf.control_dependencies([tf.io.write_file(target, "written by a model")]):
                    out = tf.identity(out)
            elif variant == "read_file":
                out += tf.cast(tf.strings.length(tf.io.read_file(target)), tf.float32) * 0
            elif variant == "py_function":
                out = tf.py_function(lambda x: x, [out], tf.float32)
            elif variant == "print_to_file":
                with tf.control_dependencies([tf.print(out, output_stream=f"file://{target}")]):
                    out = tf.identity(out)
            elif variant == "save_v2":
                with tf.control_dependencies([tf.raw_ops.SaveV2(
                        prefix=target, tensor_names=["x"], shape_and_slices=[""],
                        tensors=[out])]):
                    out = tf.identity(out)
            elif variant == "control_flow":  # pure: a while loop over a TensorArray, a cond
                n = tf.shape(images)[0]
                _, sums = tf.while_loop(
                    lambda i, ta: i < n, lambda i, ta: (i + 1, ta.write(
                        i, tf.reduce_sum(images[i]))), [0, tf.TensorArray(tf.float32, size=n)])
                total = tf.cond(n > 1, lambda: sums.stack(), lambda: sums.stack() * 2)
                out += 0 * total[:, None]
            elif variant == "spin":  # pure, and never ends
                (i,) = tf.while_loop(lambda i: i >= 0, lambda i: (i + 1,),
                                     [tf.constant(0, tf.int64)])
                out += tf.cast(i, tf.float32) * 0
            elif variant == "hog":  # pure, and wants 2 GB per image
                zeros = tf.zeros([tf.shape(images)[0] * 512 * 1024**2])
                out += tf.reduce_sum(zeros) * 0
            elif variant == "nested_write":  # two calls deep: in a cond inside a while loop
                def body(i):
                    tf.cond(i > 100, lambda: tf.io.write_file(target, "deep"), lambda: tf.no_op())
                    return (i + 1,)
                tf.while_loop(lambda i: i < 2, body, [tf.constant(0)])
            return {"scores": out}

    class WithOther(Net):
        @tf.function(input_signature=[spec])
        def other(self, images):
            tf.io.write_file(target, "written by another signature")
            return {"scores": scores(images, self.w)}

    return WithOther() if variant == "other_signature" else Net()


def hostile_saved_model(folder: Path, variant: str, target: str) -> Path:
    """A zipped TF2 SavedModel whose serving function (or another signature) does ``variant``."""
    import tensorflow as tf

    net = _module(variant, target)
    signatures = {"serving_default": net.serve}
    if variant == "other_signature":
        signatures["other"] = net.other
    saved = folder / variant
    tf.saved_model.save(net, str(saved), signatures=signatures)
    return zip_folder(saved, folder / f"{variant}.zip")


# MegaDetector v4.1 is a TF1 graph: v1 control flow (Switch, Merge, Enter, Exit,
# NextIteration) and TensorArrayV3 ops in meta_graph.graph_def, a Saver's save/restore
# nodes beside it. Built in a child process: v1 control flow is a process-wide switch.
_TF1_SCRIPT = textwrap.dedent('''
    import sys
    import tensorflow as tf
    v1 = tf.compat.v1
    v1.disable_eager_execution()
    v1.disable_control_flow_v2()
    out, variant, target = sys.argv[1:4]
    with tf.Graph().as_default():
        x = v1.placeholder(tf.float32, [None, {side}, {side}, 3], name="image_tensor")
        w = v1.get_variable("w", initializer=tf.ones([3, {classes}]))
        n = tf.shape(x)[0]
        def body(i, ta):
            return i + 1, ta.write(i, tf.reduce_sum(x[i]))
        _, ta = tf.while_loop(lambda i, ta: i < n, body, [0, tf.TensorArray(tf.float32, n)])
        total = tf.cond(n > 1, lambda: ta.stack(), lambda: ta.stack() * 2)
        scores = tf.nn.softmax(tf.reduce_mean(x, [1, 2]) @ w) + 0 * total[:, None]
        init = None
        if variant == "init_write":
            init = tf.io.write_file(target, "written by an init op")
        elif variant == "init_save":  # the saver's own op, run by the loader as an init op
            init = tf.raw_ops.SaveV2(prefix=target, tensor_names=["w"],
                                     shape_and_slices=[""], tensors=[w.read_value()])
        with v1.Session() as sess:
            sess.run(v1.global_variables_initializer())
            builder = v1.saved_model.Builder(out)
            signature = v1.saved_model.predict_signature_def({{"images": x}},
                                                             {{"scores": scores}})
            builder.add_meta_graph_and_variables(
                sess, ["serve"], signature_def_map={{"serving_default": signature}},
                main_op=init)
            builder.save()
''').format(side=SIDE, classes=CLASSES)


def tf1_saved_model(folder: Path, variant: str = "pure", target: str = "") -> Path:
    """A zipped TF1 SavedModel with a while loop, a TensorArray and a cond (MegaDetector v4.1's
    kinds of op); ``init_write``/``init_save`` add an init op that writes ``target``."""
    saved = folder / f"tf1-{variant}"
    subprocess.run([sys.executable, "-c", _TF1_SCRIPT, str(saved), variant, target],
                   check=True, capture_output=True)
    return zip_folder(saved, folder / f"tf1-{variant}.zip")
