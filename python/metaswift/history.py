"""What training and evaluation return: a loss history that plots, and an
evaluation with confidence intervals."""
from collections import namedtuple

import numpy as np

from . import _args, _core
from ._arrays import as_float32

__all__ = ["History", "Evaluation", "PerTask"]


class History:
    """The meta-loss of every meta-step of a ``fit``, in order.

    Attributes:
        losses: float32 array, one meta-loss per step (for Reptile, the mean
            query loss after adaptation).
        interrupted: True when the run stopped early (Ctrl-C or an error);
            ``losses`` then holds the steps that were done.

    Example:
        >>> h = History(np.array([4.0, 3.0, 2.0, 1.0], np.float32))
        >>> len(h), h.final
        (4, 1.0)
        >>> h.smoothed(2)
        array([3.5, 2.5, 1.5], dtype=float32)
        >>> h
        History(steps=4, loss 4 -> 1)
    """

    def __init__(self, losses, interrupted=False):
        self.losses = _values(losses, "losses")
        self.interrupted = interrupted

    def __len__(self):
        return len(self.losses)

    @property
    def final(self):
        """The last meta-loss, or None for an empty history."""
        return float(self.losses[-1]) if len(self.losses) else None

    def _window(self, smooth):
        if smooth is None:
            return max(1, len(self.losses) // 50)
        try:
            window = int(smooth)
        except (TypeError, ValueError, OverflowError):
            raise _core.Error(f"smooth: expected a window of at least 1 step, got {_args.shown(smooth)}") from None
        if window < 1:
            raise _core.Error(f"smooth: expected a window of at least 1 step, got {_args.shown(smooth)}")
        return min(window, max(1, len(self.losses)))

    def smoothed(self, window=None):
        """Moving average over ``window`` steps (by default 1/50 of the run):
        ``len(self) - window + 1`` values, the first averaging steps 0..window-1."""
        w = self._window(window)
        if len(self.losses) == 0:
            return self.losses.copy()
        kernel = np.full(w, 1 / w)
        return np.convolve(self.losses.astype(np.float64), kernel, mode="valid").astype(np.float32)

    def plot(self, ax=None, smooth=None, label="meta-loss", **kwargs):
        """Plots the losses against the step (faint) and their moving average
        over ``smooth`` steps (default: 1/50 of the run) on ``ax`` (default: a
        new figure's axes), and returns ``ax``. Needs matplotlib. Extra
        keyword arguments go to the smoothed line's ``ax.plot``."""
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError("History.plot needs matplotlib: pip install matplotlib "
                              "(or pip install 'metaswift[plot]')") from None
        if ax is None:
            _, ax = plt.subplots()
        steps = np.arange(1, len(self.losses) + 1)
        w = self._window(smooth)
        if w > 1:
            ax.plot(steps, self.losses, alpha=0.25, linewidth=0.8)
        curve = self.smoothed(w)
        ax.plot(steps[w - 1:], curve, label=label if w == 1 else f"{label} (mean of {w} steps)", **kwargs)
        ax.set_xlabel("meta-step")
        ax.set_ylabel("meta-loss")
        ax.legend()
        return ax

    def __repr__(self):
        if len(self.losses) == 0:
            return "History(steps=0)"
        w = self._window(None)
        first, last = self.losses[:w].mean(), self.losses[-w:].mean()
        note = ", interrupted" if self.interrupted else ""
        return f"History(steps={len(self.losses)}, loss {first:.4g} -> {last:.4g}{note})"


PerTask = namedtuple("PerTask", ["loss", "accuracy"])
PerTask.__doc__ = "Final query loss (and accuracy, or None) of every evaluated task."


def _values(values, name, empty=True):
    """``values`` as a 1-D float32 array, for argument ``name``."""
    arr = as_float32(values, name)
    if arr.ndim != 1:
        raise _core.Error(f"{name}: expected a 1-D sequence of numbers, got shape {arr.shape}")
    if not empty and arr.size == 0:
        raise _core.Error(f"{name}: is empty; expected at least one value")
    return arr


def _ci95(values):
    """Half-width of the normal 95% confidence interval of the mean: 1.96 std / sqrt(N)
    (NaN when a value is infinite)."""
    with np.errstate(invalid="ignore", over="ignore"):
        return float(1.96 * np.std(values, dtype=np.float64) / np.sqrt(len(values)))


class Evaluation:
    """Post-adaptation performance over many held-out tasks.

    Attributes:
        loss: mean over tasks of the query loss after ``inner_steps`` steps.
        loss_ci: half-width of its 95% confidence interval, 1.96 std / sqrt(N).
        curve: mean query loss after 0, 1, ..., ``inner_steps`` steps.
        accuracy, accuracy_ci, accuracy_curve: the same for accuracy
            (classification only; None for regression).
        per_task: ``PerTask(loss, accuracy)`` arrays, one entry per task.
        tasks, inner_steps: what was evaluated.

    Example:
        >>> e = Evaluation(curve=[2.0, 0.5], per_task_loss=[0.25, 0.75])
        >>> e.loss, round(e.loss_ci, 3)
        (0.5, 0.346)
        >>> e
        Evaluation(tasks=2, inner_steps=1, loss=0.5 ± 0.346 (95% CI), loss after 0..1 steps: 2 -> 0.5)
    """

    def __init__(self, curve, per_task_loss, accuracy_curve=None, per_task_accuracy=None):
        self.curve = _values(curve, "curve", empty=False)
        losses = _values(per_task_loss, "per_task_loss", empty=False)
        if accuracy_curve is not None and per_task_accuracy is None:
            raise _core.Error("per_task_accuracy: expected one accuracy per task with accuracy_curve, got None")
        if accuracy_curve is None and per_task_accuracy is not None:
            raise _core.Error("accuracy_curve: expected the accuracy after each step with per_task_accuracy, got None")
        self.tasks = len(losses)
        self.inner_steps = len(self.curve) - 1
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: a NaN mean, not a warning
            self.loss = float(losses.mean(dtype=np.float64))
        self.loss_ci = _ci95(losses)
        if accuracy_curve is None:
            self.accuracy = self.accuracy_ci = self.accuracy_curve = None
            self.per_task = PerTask(losses, None)
        else:
            accuracies = _values(per_task_accuracy, "per_task_accuracy")
            self.accuracy_curve = _values(accuracy_curve, "accuracy_curve")
            if len(accuracies) != len(losses):
                raise _core.Error(f"per_task_accuracy: expected {len(losses)} values (one per task, as "
                                  f"per_task_loss), got {len(accuracies)}")
            if len(self.accuracy_curve) != len(self.curve):
                raise _core.Error(f"accuracy_curve: expected {len(self.curve)} values (one per step, as curve), "
                                  f"got {len(self.accuracy_curve)}")
            with np.errstate(invalid="ignore", over="ignore"):
                self.accuracy = float(accuracies.mean(dtype=np.float64))
            self.accuracy_ci = _ci95(accuracies)
            self.per_task = PerTask(losses, accuracies)

    def __repr__(self):
        text = (f"Evaluation(tasks={self.tasks}, inner_steps={self.inner_steps}, "
                f"loss={self.loss:.4g} ± {self.loss_ci:.3g} (95% CI)")
        if self.accuracy is not None:
            text += f", accuracy={100 * self.accuracy:.2f}% ± {100 * self.accuracy_ci:.2f}%"
        return text + f", loss after 0..{self.inner_steps} steps: {self.curve[0]:.4g} -> {self.curve[-1]:.4g})"
