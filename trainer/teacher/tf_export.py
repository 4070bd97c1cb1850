"""Read MusiCNN's TensorFlow checkpoint once (run with a Python that has TensorFlow and
``musicnn`` installed with ``--no-deps``, never the project's environment).

``weights``: every model variable of a packaged checkpoint (``MSD_musicnn``,
``MTT_musicnn``) into one ``.npz`` that :func:`trainer.teacher.musicnn_net.load_musicnn`
reads. ``reference``: the original TensorFlow graph (the package's ``models`` module) on
the log-mel patches of an ``.npz`` (``patches``, as :func:`trainer.teacher.musicnn_net.patches`
makes them), for checking the PyTorch port.

Usage::

    TF_USE_LEGACY_KERAS=1 /path/to/tfenv/bin/python trainer/teacher/tf_export.py \
        weights --model MSD_musicnn --out benchmarks/_cache/teacher/MSD_musicnn.npz
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np


def checkpoint_prefix(model: str) -> str:
    """The checkpoint prefix of a model shipped in the installed ``musicnn`` package."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or spec.origin is None:
        raise SystemExit("musicnn is not installed: pip install --no-deps musicnn")
    folder = Path(spec.origin).parent / model
    if not (folder / ".index").is_file():
        raise SystemExit(f"{folder}: no checkpoint for {model}")
    return f"{folder}/"  # the packaged files are named '.index', '.data-...': empty stem


def export_weights(model: str, out: Path) -> int:
    """Write the model's variables (not the optimiser's) to ``out``; their count."""
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_prefix(model))
    names = [n for n in reader.get_variable_to_shape_map()
             if "Adam" not in n and not n.endswith("_power")]
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays = {n: reader.get_tensor(n).astype(np.float32) for n in sorted(names)}
    np.savez(out, **arrays)
    return len(names)


def run_reference(model: str, patches: np.ndarray) -> dict[str, np.ndarray]:
    """Tag probabilities and penultimate embeddings of the original graph."""
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    x = tf.compat.v1.placeholder(tf.float32, [None, patches.shape[1], patches.shape[2]])
    is_training = tf.compat.v1.placeholder(tf.bool)
    with tf.name_scope("model"):
        outs = models.define_model(x, is_training, model, 50)
    logits, penultimate = outs[0], outs[-1]
    with tf.compat.v1.Session() as sess:
        tf.compat.v1.train.Saver().restore(sess, checkpoint_prefix(model))
        tags, emb = sess.run([tf.nn.sigmoid(logits), penultimate],
                             feed_dict={x: patches, is_training: False})
    return {"tags": tags, "embedding": emb}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``weights`` or ``reference``."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("weights", help="checkpoint variables -> .npz")
    w.add_argument("--model", default="MSD_musicnn")
    w.add_argument("--out", type=Path, required=True)
    r = sub.add_parser("reference", help="run the TensorFlow graph on saved patches")
    r.add_argument("--model", default="MSD_musicnn")
    r.add_argument("--patches", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "weights":
        print(f"{export_weights(args.model, args.out)} variables -> {args.out}")
    else:
        with np.load(args.patches) as npz:
            patches = npz["patches"].astype(np.float32)
        np.savez(args.out, **run_reference(args.model, patches))  # type: ignore[arg-type]
        print(f"{len(patches)} patches -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
