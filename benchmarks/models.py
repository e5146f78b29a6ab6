"""The models the simulated loop retrains each iteration.

`text` is the text-classification container's own classifier on its own
embeddings (text_classifier.classifier), so BBC News figures describe the
shipped model. `pixels` stands in for an image model until the image containers
exist (issue 4): PCA to 50 components, then an RBF support-vector machine with
Platt-scaled probabilities; on 1,500 MNIST labels it is 94-95% accurate.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.decomposition import PCA
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

import benchmarks.datasets  # noqa: F401  (puts the text container's package on the path)
from text_classifier import classifier as text_classifier

TEXT_C = 10.0  # the container's regularisation (text_classifier.train)


class Model:
    def __init__(self, family: str, class_count: int, seed: int):
        self.family, self.class_count, self.seed = family, class_count, seed
        self.estimator = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> Model:
        if self.family == "text":
            self.estimator = text_classifier.fit(X, y, TEXT_C)
        elif len(np.unique(y)) == 1:
            self.estimator = DummyClassifier(strategy="prior").fit(X, y)
        else:
            components = min(50, len(X) - 1, X.shape[1])
            # Platt scaling is SVC's own 5-fold probability fit; the deprecation only
            # moves it to CalibratedClassifierCV in scikit-learn 1.11 (pinned 1.9.1).
            svc = SVC(probability=True, random_state=self.seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.estimator = make_pipeline(PCA(components, random_state=self.seed), svc).fit(X, y)
        return self

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Probabilities over all classes, zero for classes never seen in training."""
        return text_classifier.full_scores(self.estimator, X, self.class_count)
