"""Early stopping on a held-out loss: keep the best epoch's weights, stop when it stops improving."""
import copy

from torch import nn

# A held-out loss must fall by more than this to count as better: rounding noise is not progress.
MIN_IMPROVEMENT = 1e-4


class EarlyStopping:
    def __init__(self, patience: int):
        self.patience = patience
        self.best_loss = float("inf")
        self.best_epoch = 0
        self.stale = 0
        self._best_state = None

    def update(self, epoch: int, loss: float, model: nn.Module) -> None:
        if loss < self.best_loss - MIN_IMPROVEMENT:
            self.best_loss, self.best_epoch, self.stale = loss, epoch, 0
            self._best_state = copy.deepcopy(model.state_dict())
        else:
            self.stale += 1

    @property
    def should_stop(self) -> bool:
        return self.stale >= self.patience

    def restore(self, model: nn.Module) -> bool:
        """Load the best epoch's weights; False when no epoch was evaluated."""
        if self._best_state is None:
            return False
        model.load_state_dict(self._best_state)
        return True
