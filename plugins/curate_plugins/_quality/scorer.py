"""The distilled scorer: trained from the label cache, applied to the whole corpus on the CPU.

Two approaches are trained on the same split and the one with the lower held-out MAE is kept:
- ``fasttext``: a fastText classifier over the label rounded to a bucket 0..10; the score is the expected
  bucket under its predicted distribution;
- ``ridge``: ridge regression over cheap features (``features.py``) and their squares, standardised, with
  the penalty chosen by cross-validation on the training part.
The model directory holds ``meta.json`` (approach, features, metrics of every approach) and the model file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from curate_plugins._quality.features import FeatureSpace

APPROACHES = ("fasttext", "ridge")
_SPACE = re.compile(r"\s+")


def split_held_out(files, test_fraction: float):
    """Deterministic split by content hash, so the held-out set is stable across retrainings."""
    def is_test(f):
        return int(hashlib.sha256(f.content_sha.encode()).hexdigest()[:8], 16) < test_fraction * 0x100000000
    train = [f for f in files if not is_test(f)]
    test = [f for f in files if is_test(f)]
    return train, test


def train_scorer(files, out_dir: str | Path, approaches=APPROACHES, test_fraction: float = 0.2,
                 min_labels: int = 20) -> dict:
    files = list(files)
    if len(files) < min_labels:
        raise ValueError(f"only {len(files)} usable labels in the cache; need at least {min_labels}")
    train, test = split_held_out(files, test_fraction)
    if not test or len(train) < min_labels // 2:
        raise ValueError(f"cannot hold out labels: {len(train)} train / {len(test)} test; label more files")
    y_test = np.asarray([f.label for f in test])
    metrics = {"n_train": len(train), "n_test": len(test),
               "constant_mae": float(np.mean(np.abs(y_test - np.mean([f.label for f in train]))))}
    models = {}
    for name in approaches:
        model = {"fasttext": FastTextScorer, "ridge": RidgeScorer}[name].fit(train)
        predictions = np.asarray([model.predict(f.text, {**f.metadata, "lang": f.lang}) for f in test])
        metrics[f"{name}_mae"] = float(np.mean(np.abs(predictions - y_test)))
        models[name] = model
    best = min(models, key=lambda n: metrics[f"{n}_mae"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models[best].save(out)
    meta = {"format": 1, "approach": best, "metrics": metrics, "label_range": [0, 10]}
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2))
    os.replace(tmp, out / "meta.json")
    return meta


class RidgeScorer:
    alphas = (0.1, 1.0, 10.0, 100.0)

    def __init__(self, space: FeatureSpace, mean, std, weights, bias: float):
        self.space, self.mean, self.std = space, np.asarray(mean), np.asarray(std)
        self.weights, self.bias = np.asarray(weights), float(bias)

    @staticmethod
    def _expand(x: np.ndarray) -> np.ndarray:
        return np.hstack([x, x ** 2])

    @classmethod
    def fit(cls, files) -> RidgeScorer:
        space = FeatureSpace.fit(files)
        x = cls._expand(space.matrix(files))
        y = np.asarray([f.label for f in files])
        mean, std = x.mean(0), x.std(0)
        std[std == 0] = 1.0
        z = (x - mean) / std
        alpha = min(cls.alphas, key=lambda a: _cv_mae(z, y, a))
        weights, bias = _ridge(z, y, alpha)
        return cls(space, mean, std, weights, bias)

    def predict(self, text: str, metadata: dict) -> float:
        return self.predict_many([text], [metadata])[0]

    def predict_many(self, texts: list[str], metadatas: list[dict]) -> list[float]:
        """Ratings of many files in one matrix product."""
        x = self._expand(np.asarray([self.space.vector(t, m) for t, m in zip(texts, metadatas)]))
        return np.clip(((x - self.mean) / self.std) @ self.weights + self.bias, 0, 10).tolist()

    def save(self, out: Path) -> None:
        (out / "ridge.json").write_text(json.dumps({"space": self.space.to_json(), "mean": self.mean.tolist(),
                                                    "std": self.std.tolist(), "weights": self.weights.tolist(),
                                                    "bias": self.bias}))

    @classmethod
    def load(cls, out: Path) -> RidgeScorer:
        d = json.loads((out / "ridge.json").read_text())
        return cls(FeatureSpace(d["space"]["langs"], d["space"]["syntax_keys"]), d["mean"], d["std"], d["weights"],
                   d["bias"])


def _ridge(z: np.ndarray, y: np.ndarray, alpha: float):
    bias = float(y.mean())
    a = z.T @ z + alpha * np.eye(z.shape[1])
    return np.linalg.solve(a, z.T @ (y - bias)), bias


def _cv_mae(z, y, alpha, folds: int = 4) -> float:
    idx = np.arange(len(y))
    errors = []
    for k in range(folds):
        test = idx % folds == k
        w, b = _ridge(z[~test], y[~test], alpha)
        errors.append(np.abs(np.clip(z[test] @ w + b, 0, 10) - y[test]).mean())
    return float(np.mean(errors))


def fasttext_line(text: str, metadata: dict, max_chars: int = 6000) -> str:
    return f"__lang_{metadata.get('lang') or 'unknown'} " + _SPACE.sub(" ", text[:max_chars]).strip()


class FastTextScorer:
    def __init__(self, model):
        self.model = model

    @classmethod
    def fit(cls, files, epoch: int = 25, dim: int = 32) -> FastTextScorer:
        import fasttext

        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
            for f in files:
                handle.write(f"__label__{int(round(f.label))} {fasttext_line(f.text, {'lang': f.lang})}\n")
        try:
            model = fasttext.train_supervised(handle.name, epoch=epoch, dim=dim, wordNgrams=2, minCount=1, lr=0.5,
                                              thread=1, seed=0, verbose=0)
        finally:
            os.unlink(handle.name)
        return cls(model)

    def predict(self, text: str, metadata: dict) -> float:
        return self.predict_many([text], [metadata])[0]

    def predict_many(self, texts: list[str], metadatas: list[dict]) -> list[float]:
        """Expected ratings of many files in one fastText call."""
        lines = [fasttext_line(t, m) for t, m in zip(texts, metadatas)]
        out = []
        for labels, probs in zip(*self.model.predict(lines, k=-1)):
            values = np.asarray([float(label.removeprefix("__label__")) for label in labels])
            out.append(float(np.dot(values, probs) / max(float(np.sum(probs)), 1e-12)))
        return out

    def save(self, out: Path) -> None:
        self.model.save_model(str(out / "fasttext.bin"))

    @classmethod
    def load(cls, out: Path) -> FastTextScorer:
        import fasttext

        return cls(fasttext.load_model(str(out / "fasttext.bin")))


def load_scorer(model_dir: str | Path):
    out = Path(model_dir)
    meta_path = out / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{meta_path}: no scorer here; train one with `curate train scorer` or the "
                                f"`train_quality_scorer` step")
    meta = json.loads(meta_path.read_text())
    return {"fasttext": FastTextScorer, "ridge": RidgeScorer}[meta["approach"]].load(out), meta
