"""Temperature scaling: one scalar T dividing the logits, fitted on held-out images.

A fine-tuned network is usually over-confident. The labeling loop's threshold comes from
a statistical bound on a fresh calibration sample, so miscalibration cannot break the
accuracy promise; it costs coverage (too few confident items, or a confidence scale the
threshold search resolves poorly). T changes no argmax, so accuracy is untouched.
"""
import numpy as np
import torch

# log T on a fine grid: deterministic, no optimiser to diverge, and NLL(T) is smooth and
# unimodal enough that ~0.005 steps in log T are far finer than the data can resolve.
# T >= 1 only softens: on a held-out split the model gets entirely right (common: it is
# small, and it also chose the epoch) NLL keeps falling as T -> 0, and sharpening would
# saturate every score at 1.0, leaving the threshold nothing to tell apart.
_LOG_T_GRID = np.linspace(0.0, np.log(20.0), 600)


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float) -> float:
    return float(torch.nn.functional.cross_entropy(logits / temperature, labels))


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The T minimising held-out negative log-likelihood (1.0 when there is nothing to fit)."""
    if len(labels) == 0:
        return 1.0
    logits, labels = logits.double().cpu(), labels.cpu()
    losses = [nll(logits, labels, float(np.exp(t))) for t in _LOG_T_GRID]
    return float(np.exp(_LOG_T_GRID[int(np.argmin(losses))]))


def expected_calibration_error(probabilities: torch.Tensor, labels: torch.Tensor, bins: int = 10) -> float:
    """|confidence - accuracy| averaged over equal-width confidence bins, weighted by bin size."""
    if len(labels) == 0:
        return 0.0
    confidence, predicted = probabilities.max(dim=1)
    correct = (predicted == labels).double()
    edges = torch.linspace(0, 1, bins + 1, dtype=confidence.dtype)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += float(inside.double().mean() * (confidence[inside].double().mean() - correct[inside].mean()).abs())
    return error
