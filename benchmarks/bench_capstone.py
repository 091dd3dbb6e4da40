"""Where chapter 6's training time goes, and what the cached second stage gives up.

Prints, on this machine:

* the fp32 matrix-multiply rate (numpy and TensorFlow, 2048 x 2048), the yardstick;
* per model and seed: epochs, seconds, samples/s and achieved GFLOP/s (training counted
  as 3 x the forward FLOPs that TensorFlow's profiler counts), for the first seed
  (which pays the tracing) and the next (which reuses the pooled, traced models);
* the second stage both ways for the first seed: heads trained on cached embeddings
  (what the chapter does) against fusion models trained through the frozen branches
  (branch dropout and image augmentation active), with their times and AUROCs.

Usage::

    .venv/bin/python benchmarks/bench_capstone.py            # defaults of chapter 6, 2 seeds
    .venv/bin/python benchmarks/bench_capstone.py --seeds 1 --epochs 5   # quicker
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402


def matmul_gflops(n: int = 2048, repeats: int = 3) -> tuple[float, float]:
    import tensorflow as tf

    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    best_np = min(_timed(lambda: a @ a) for _ in range(repeats))
    ta = tf.constant(a)
    tf.linalg.matmul(ta, ta).numpy()
    best_tf = min(_timed(lambda: tf.linalg.matmul(ta, ta).numpy()) for _ in range(repeats))
    flops = 2 * n ** 3
    return flops / best_np / 1e9, flops / best_tf / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def forward_flops(model, inputs: dict) -> float:
    """Forward FLOPs per sample, counted by TensorFlow's profiler on the inference graph."""
    import tensorflow as tf

    specs = {k: tf.TensorSpec((1, *np.asarray(v).shape[1:]), tf.as_dtype(np.asarray(v).dtype))
             for k, v in inputs.items()}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=concrete.graph, options=options)
    return float(info.total_float_ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data_samples")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()

    from medkit import data, metrics, models, train

    np_rate, tf_rate = matmul_gflops()
    print(f"fp32 matmul 2048x2048: numpy {np_rate:.0f} GFLOP/s, TensorFlow {tf_rate:.0f} GFLOP/s")
    cohort = data.load_cohort(args.data_dir)
    features = data.featurize(cohort, image_size=64, text_len=64, n_mfcc=20)
    splits = {s: features.split(s) for s in ("train", "val", "test")}
    base = models.config_from_arrays(splits["train"], vocab_size=len(features.vocabulary) + 2,
                                     embed_dim=32, fusion_dim=32, seed=0)
    fusions = ["concat", "average", "sum", "gated", "late"]
    fit_args = dict(epochs=args.epochs, batch_size=32, patience=8, min_epochs=5, verbose=0)
    pool = train.ModelPool()
    n_train = len(splits["train"]["label"])
    flops: dict[str, float] = {}
    print(f"\n{'seed':>4} {'model':>8} {'epochs':>6} {'seconds':>8} {'samples/s':>10} {'GFLOP/s':>8} "
          f"{'% of matmul':>11}")
    first = None
    for s in range(args.seeds):
        runs = {m: train.fit(base.replace(modalities=(m,)), splits["train"], splits["val"], seed=s,
                             pool=pool, **fit_args) for m in models.MODALITIES}
        emb = {k: train.embed({m: runs[m].model for m in models.MODALITIES}, splits[k]) for k in splits}
        for f in fusions:
            cfg = base.replace(fusion=f, learning_rate=0.005)
            runs[f] = train.fit(cfg, emb["train"], emb["val"], seed=s, head_only=True, pool=pool, **fit_args)
        for name, run in runs.items():
            inputs = splits["train"] if name in models.MODALITIES else emb["train"]
            if name not in flops:
                x = {m: inputs[m][:1] for m in models.model_modalities(run.model)}
                flops[name] = forward_flops(run.model, x)
            epochs = len(run.history["loss"])
            rate = 3 * flops[name] * n_train * epochs / run.seconds / 1e9
            print(f"{s:>4} {name:>8} {epochs:>6} {run.seconds:>8.1f} {run.samples_per_s:>10.0f} {rate:>8.3f} "
                  f"{100 * rate / tf_rate:>10.1f}%")
        if first is None:
            first = (runs, emb)
    runs, emb = first
    branches = {m: runs[m].restored_model() for m in models.MODALITIES}
    y_val, y_test = splits["val"]["label"], splits["test"]["label"]
    print("\nsecond stage, first seed: cached embeddings vs through the frozen branches")
    print(f"{'fusion':>8} {'cached s':>9} {'full s':>7} {'val cached':>10} {'val full':>9} {'test cached':>11} "
          f"{'test full':>9}")
    for f in fusions:
        cfg = base.replace(fusion=f, learning_rate=0.005)
        full = train.fit(cfg, splits["train"], splits["val"], seed=0, init_from=branches, **fit_args)
        cached = runs[f]
        head = cached.restored_model()
        auc = {"val cached": metrics.roc_auc(y_val, train.predict(head, emb["val"])),
               "test cached": metrics.roc_auc(y_test, train.predict(head, emb["test"])),
               "val full": metrics.roc_auc(y_val, train.predict(full.model, splits["val"])),
               "test full": metrics.roc_auc(y_test, train.predict(full.model, splits["test"]))}
        print(f"{f:>8} {cached.seconds:>9.1f} {full.seconds:>7.1f} {auc['val cached']:>10.3f} "
              f"{auc['val full']:>9.3f} {auc['test cached']:>11.3f} {auc['test full']:>9.3f}")


if __name__ == "__main__":
    main()
