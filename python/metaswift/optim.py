"""Outer-loop optimizers for ``learner.fit``, with PyTorch's names and defaults.

An optimizer here is a rule and its hyper-parameters, checked when it is
made; each ``fit`` starts a fresh state for it in the engine, so one
optimizer object can serve several runs.

    >>> import metaswift as ms
    >>> ms.optim.Adam(lr=1e-3)
    Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08)
"""
from . import _args, _core

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop"]


class Optimizer:
    """Base class: ``_kind`` names the engine rule; ``_engine_args`` are its
    arguments in the engine's order; ``_names`` maps engine argument names
    to this class's keywords for error messages."""

    _kind = None
    _names = {}

    def _make(self, *engine_args):
        try:
            self._optimizer = _core.new_optimizer(self._kind, *engine_args)
        except _core.Error as error:
            raise _args.renamed(error, self._names) from None

    def _hyper(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum:
    ``b = momentum * b + g; theta -= lr * b`` (PyTorch's SGD without dampening).

    With ``lr=epsilon`` on Reptile's update direction this is Reptile's outer
    update (Nichol et al. 2018).

        >>> SGD(lr=0.1, momentum=0.9, nesterov=True)
        SGD(lr=0.1, momentum=0.9, nesterov=True)
    """

    _kind = "sgd"

    def __init__(self, lr=1e-3, momentum=0.0, nesterov=False):
        self.lr = _args.real(lr, "lr")
        self.momentum = _args.real(momentum, "momentum")
        self.nesterov = bool(nesterov)
        self._make(self.lr, self.momentum, float(self.nesterov))

    def _hyper(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, ICLR 2015). MAML meta-trains
    with Adam at lr 1e-3.

        >>> Adam(lr=1e-3, betas=(0.9, 0.99))
        Adam(lr=0.001, betas=(0.9, 0.99), eps=1e-08)
    """

    _kind = "adam"
    _names = {"beta1": "betas[0]", "beta2": "betas[1]"}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = _args.real(lr, "lr")
        self.betas = _args.interval(betas, "betas")
        self.eps = _args.real(eps, "eps")
        self._make(self.lr, *self.betas, self.eps)

    def _hyper(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps}


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, ICLR 2019):
    ``theta -= lr * (adam_step + weight_decay * theta)``.

        >>> AdamW(weight_decay=0.1)
        AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.1)
    """

    _kind = "adamw"
    _names = {"beta1": "betas[0]", "beta2": "betas[1]"}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        self.lr = _args.real(lr, "lr")
        self.betas = _args.interval(betas, "betas")
        self.eps = _args.real(eps, "eps")
        self.weight_decay = _args.real(weight_decay, "weight_decay")
        self._make(self.lr, *self.betas, self.eps, self.weight_decay)

    def _hyper(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer, JMLR 2011): steps scaled by the root of
    the summed squared gradients.

        >>> Adagrad()
        Adagrad(lr=0.01, initial_accumulator_value=0.0, eps=1e-10)
    """

    _kind = "adagrad"
    _names = {"initial_accumulator": "initial_accumulator_value"}

    def __init__(self, lr=1e-2, initial_accumulator_value=0.0, eps=1e-10):
        self.lr = _args.real(lr, "lr")
        self.initial_accumulator_value = _args.real(initial_accumulator_value, "initial_accumulator_value")
        self.eps = _args.real(eps, "eps")
        self._make(self.lr, self.initial_accumulator_value, self.eps)

    def _hyper(self):
        return {"lr": self.lr, "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}


class RMSprop(Optimizer):
    """RMSProp (Tieleman & Hinton, 2012), PyTorch's form:
    ``v = alpha * v + (1 - alpha) * g**2``, ``theta -= lr * g / (sqrt(v) + eps)``,
    with optional momentum on the scaled step.

        >>> RMSprop(lr=1e-3)
        RMSprop(lr=0.001, alpha=0.99, eps=1e-08, momentum=0.0)
    """

    _kind = "rmsprop"
    _names = {"decay": "alpha"}

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0):
        self.lr = _args.real(lr, "lr")
        self.alpha = _args.real(alpha, "alpha")
        self.eps = _args.real(eps, "eps")
        self.momentum = _args.real(momentum, "momentum")
        self._make(self.lr, self.alpha, self.eps, self.momentum)

    def _hyper(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}
