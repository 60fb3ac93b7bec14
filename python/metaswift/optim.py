"""Outer-loop optimizers for ``learner.fit``, with PyTorch's names and defaults.

An optimizer here is a rule and its hyper-parameters, checked when it is
made; each ``fit`` starts a fresh state for it in the engine, so one
optimizer object can serve several runs.

    >>> import metaswift as ms
    >>> ms.optim.Adam(lr=1e-3)
    Adam(lr=0.001, betas=(0.9, 0.999), eps=1e-08)

Any optimizer's ``lr`` may be a schedule instead of a number; the rate of
update t follows it (t counts on across ``fit(..., resume=True)``):

    >>> ms.optim.Adam(lr=ms.optim.CosineDecay(3e-3, steps=5000, final=1e-4))
    Adam(lr=CosineDecay(lr=0.003, steps=5000, final=0.0001, warmup=0), betas=(0.9, 0.999), eps=1e-08)
"""
import numpy as np

from . import _args, _core
from ._arrays import as_float32

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Learned",
           "Schedule", "CosineDecay", "ExponentialDecay", "PiecewiseConstant"]


class Schedule:
    """Base class of learning-rate schedules: ``lr`` is the starting (or
    peak) rate; ``schedule(t)`` is the rate of update t (0 for the first),
    ``schedule.rates(n)`` the first n, both computed by the engine."""

    lr = 0.0

    def __new__(cls, *args, **kwargs):
        if cls is Schedule:
            raise TypeError("Schedule: an abstract base class; use ms.optim.CosineDecay, ExponentialDecay or "
                            "PiecewiseConstant")
        return super().__new__(cls)

    def _apply(self, optimizer):
        """The engine optimizer ``optimizer`` with this schedule as its rate."""
        raise TypeError(f"{type(self).__name__}: not an engine schedule; use or subclass ms.optim.CosineDecay, "
                        f"ExponentialDecay or PiecewiseConstant")

    def rates(self, n):
        """The learning rates of updates 0..n-1 as a float32 array."""
        n = _args.count(n, "n", minimum=0)
        return np.array(self._apply(_core.new("optimizer.SGD", lr=self.lr)).call("learning_rates", n=n)["rates"])

    def __call__(self, step):
        step = _args.count(step, "step", minimum=0)
        return float(self.rates(step + 1)[step])

    def _hyper(self):
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args})"


class CosineDecay(Schedule):
    """Linear warm-up, then cosine annealing (Loshchilov & Hutter, ICLR 2017,
    without restarts): ``lr * (t + 1) / warmup`` for ``t < warmup``, then from
    ``lr`` down to ``final`` along half a cosine, reached at update ``steps``
    (which counts the warm-up) and kept after. PyTorch's CosineAnnealingLR
    with ``T_max = steps`` and ``eta_min = final`` when there is no warm-up.

        >>> CosineDecay(1.0, steps=4).rates(5)
        array([1.        , 0.8535534 , 0.5       , 0.14644662, 0.        ], dtype=float32)
    """

    def __init__(self, lr, steps, final=0.0, warmup=0):
        self.lr = _args.real(lr, "lr")
        self.steps = _args.count(steps, "steps")
        self.final = _args.real(final, "final")
        self.warmup = _args.count(warmup, "warmup", minimum=0)
        self._apply(_core.new("optimizer.SGD", lr=0.0))  # checks the arguments now

    def _apply(self, optimizer):
        return _core.new("schedule.Cosine", base=optimizer, lr=self.lr, steps=self.steps, final=self.final,
                         warmup=self.warmup)

    def _hyper(self):
        return {"lr": self.lr, "steps": self.steps, "final": self.final, "warmup": self.warmup}


class ExponentialDecay(Schedule):
    """``lr * rate ** (t / every)``; with ``staircase`` the exponent is
    rounded down, so the rate drops by ``rate`` every ``every`` updates
    (PyTorch's StepLR(step_size=every, gamma=rate); ExponentialLR is
    ``every=1``). ``rate`` in (0, 1].

        >>> ExponentialDecay(1.0, rate=0.5, every=2, staircase=True).rates(5)
        array([1.  , 1.  , 0.5 , 0.5 , 0.25], dtype=float32)
    """

    def __init__(self, lr, rate, every=1, staircase=False):
        self.lr = _args.real(lr, "lr")
        self.rate = _args.real(rate, "rate")
        self.every = _args.count(every, "every")
        self.staircase = bool(staircase)
        self._apply(_core.new("optimizer.SGD", lr=0.0))

    def _apply(self, optimizer):
        return _core.new("schedule.Exponential", base=optimizer, lr=self.lr, rate=self.rate, every=self.every,
                         staircase=self.staircase)

    def _hyper(self):
        return {"lr": self.lr, "rate": self.rate, "every": self.every, "staircase": self.staircase}


class PiecewiseConstant(Schedule):
    """``lr`` until update ``boundaries[0]``, then ``values[k]`` from update
    ``boundaries[k]`` on (PyTorch's MultiStepLR with explicit rates).

        >>> PiecewiseConstant(0.1, boundaries=[2, 4], values=[0.01, 0.001]).rates(5)
        array([0.1  , 0.1  , 0.01 , 0.01 , 0.001], dtype=float32)
    """

    def __init__(self, lr, boundaries, values):
        self.lr = _args.real(lr, "lr")
        self.boundaries = tuple(_args.integer(b, f"boundaries[{i}]") for i, b in enumerate(_sequence(boundaries, "boundaries")))
        self.values = tuple(_args.real(v, f"values[{i}]") for i, v in enumerate(_sequence(values, "values")))
        self._apply(_core.new("optimizer.SGD", lr=0.0))

    def _apply(self, optimizer):
        return _core.new("schedule.Piecewise", base=optimizer, lr=self.lr,
                         boundaries=np.array(self.boundaries, dtype=np.int64),
                         values=as_float32(np.array(self.values, dtype=np.float64), "values"))

    def _hyper(self):
        return {"lr": self.lr, "boundaries": list(self.boundaries), "values": list(self.values)}


def _sequence(value, name):
    if isinstance(value, (str, bytes)):
        raise _core.Error(f"{name}: expected a sequence of numbers, got {value!r}")
    try:
        return list(value)
    except TypeError:
        raise _core.Error(f"{name}: expected a sequence of numbers, got {value!r}") from None


def engine(optimizer, name):
    """The engine optimizer behind a metaswift.optim optimizer (argument ``name``)."""
    core = getattr(optimizer, "_optimizer", None)
    if not isinstance(optimizer, Optimizer) or not isinstance(core, _core.Object):
        raise _core.Error(f"{name}: expected a metaswift.optim optimizer (e.g. ms.optim.Adam(lr=1e-3)), "
                          f"got {type(optimizer).__name__}")
    return core


def _rate(lr):
    """An optimizer's ``lr``: a real number or a Schedule."""
    return lr if isinstance(lr, Schedule) else _args.real(lr, "lr")


class Optimizer:
    """Base class: ``_kind`` names the engine rule; ``_engine_args`` are its
    arguments in the engine's order; ``_names`` maps engine argument names
    to this class's keywords for error messages."""

    _kind = None
    _names = {}

    def __new__(cls, *args, **kwargs):
        if cls is Optimizer:
            raise TypeError("Optimizer: an abstract base class; use ms.optim.SGD, Adam, AdamW, Adagrad or RMSprop")
        return super().__new__(cls)

    def _make(self, lr, **engine_args):
        schedule = lr if isinstance(lr, Schedule) else None
        try:
            self._optimizer = _core.new("optimizer." + self._kind, lr=lr if schedule is None else schedule.lr,
                                        **engine_args)
        except _core.Error as error:
            raise _args.renamed(error, self._names) from None
        if schedule is not None:
            self._optimizer = schedule._apply(self._optimizer)

    def learning_rates(self, n):
        """The learning rates of the first ``n`` updates (float32 array): all
        ``lr`` for a number, the schedule's values for a schedule."""
        n = _args.count(n, "n", minimum=0)
        return np.array(engine(self, "optimizer").call("learning_rates", n=n)["rates"])

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

    _kind = "SGD"

    def __init__(self, lr=1e-3, momentum=0.0, nesterov=False):
        self.lr = _rate(lr)
        self.momentum = _args.real(momentum, "momentum")
        self.nesterov = bool(nesterov)
        self._make(self.lr, momentum=self.momentum, nesterov=self.nesterov)

    def _hyper(self):
        return {"lr": self.lr, "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba, ICLR 2015). MAML meta-trains
    with Adam at lr 1e-3.

        >>> Adam(lr=1e-3, betas=(0.9, 0.99))
        Adam(lr=0.001, betas=(0.9, 0.99), eps=1e-08)
    """

    _kind = "Adam"
    _names = {"beta1": "betas[0]", "beta2": "betas[1]"}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        self.lr = _rate(lr)
        self.betas = _args.interval(betas, "betas")
        self.eps = _args.real(eps, "eps")
        self._make(self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps)

    def _hyper(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps}


class AdamW(Optimizer):
    """Adam with decoupled weight decay (Loshchilov & Hutter, ICLR 2019):
    ``theta -= lr * (adam_step + weight_decay * theta)``.

        >>> AdamW(weight_decay=0.1)
        AdamW(lr=0.001, betas=(0.9, 0.999), eps=1e-08, weight_decay=0.1)
    """

    _kind = "AdamW"
    _names = {"beta1": "betas[0]", "beta2": "betas[1]"}

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        self.lr = _rate(lr)
        self.betas = _args.interval(betas, "betas")
        self.eps = _args.real(eps, "eps")
        self.weight_decay = _args.real(weight_decay, "weight_decay")
        self._make(self.lr, beta1=self.betas[0], beta2=self.betas[1], eps=self.eps, weight_decay=self.weight_decay)

    def _hyper(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


class Adagrad(Optimizer):
    """AdaGrad (Duchi, Hazan & Singer, JMLR 2011): steps scaled by the root of
    the summed squared gradients.

        >>> Adagrad()
        Adagrad(lr=0.01, initial_accumulator_value=0.0, eps=1e-10)
    """

    _kind = "Adagrad"

    def __init__(self, lr=1e-2, initial_accumulator_value=0.0, eps=1e-10):
        self.lr = _rate(lr)
        self.initial_accumulator_value = _args.real(initial_accumulator_value, "initial_accumulator_value")
        self.eps = _args.real(eps, "eps")
        self._make(self.lr, initial_accumulator_value=self.initial_accumulator_value, eps=self.eps)

    def _hyper(self):
        return {"lr": self.lr, "initial_accumulator_value": self.initial_accumulator_value, "eps": self.eps}


class RMSprop(Optimizer):
    """RMSProp (Tieleman & Hinton, 2012), PyTorch's form:
    ``v = alpha * v + (1 - alpha) * g**2``, ``theta -= lr * g / (sqrt(v) + eps)``,
    with optional momentum on the scaled step.

        >>> RMSprop(lr=1e-3)
        RMSprop(lr=0.001, alpha=0.99, eps=1e-08, momentum=0.0)
    """

    _kind = "RMSprop"

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0):
        self.lr = _rate(lr)
        self.alpha = _args.real(alpha, "alpha")
        self.eps = _args.real(eps, "eps")
        self.momentum = _args.real(momentum, "momentum")
        self._make(self.lr, alpha=self.alpha, eps=self.eps, momentum=self.momentum)

    def _hyper(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps, "momentum": self.momentum}


class Learned(Optimizer):
    """The learned optimizer of Andrychowicz et al. (NeurIPS 2016, "Learning
    to learn by gradient descent by gradient descent"): a two-layer LSTM of
    ``hidden`` units, its weights shared by every coordinate of the model it
    optimises (each coordinate keeps its own hidden and cell states), reads
    the coordinate's gradient, preprocessed as in the paper's appendix A
    (``(log|g|/p, sign g)`` if ``|g| >= e**-p``, else ``(-1, e**p * g)``;
    ``preprocessing=p``, 10 in the paper, 0 for the raw gradient), and
    outputs the coordinate's step times ``output_scale`` (0.1):
    ``theta += step``. ``cell="gru"`` makes the layers GRUs (no cell
    state; three gates instead of four).

    Its weights start at random (``seed``) or from ``weights``; meta-train
    them with :meth:`meta_train` on a family of problems
    (``ms.learned.Quadratic``, ``ms.learned.MLP``). Then use it as the
    ``optimizer=`` of any ``fit``, like Adam, and store it with ``ms.save``.

    Example::

        >>> import metaswift as ms
        >>> opt = Learned(hidden=8, seed=0)
        >>> opt
        Learned(hidden=8, layers=2, output_scale=0.1, preprocessing=10.0)
        >>> losses = opt.meta_train(ms.learned.Quadratic(dim=10), steps=5, unroll=20, truncation=5)
        >>> losses.shape
        (5,)

    References: Andrychowicz, Denil, Gómez, Hoffman, Pfau, Schaul, Shillingford
    & de Freitas, NeurIPS 2016.
    """

    _kind = "Learned"

    def __init__(self, hidden=20, layers=2, output_scale=0.1, preprocessing=10.0, seed=0, weights=None, cell="lstm"):
        self.hidden = _args.count(hidden, "hidden")
        self.layers = _args.count(layers, "layers")
        self.cell = _args.choice(cell, "cell", ("lstm", "gru"))
        self.output_scale = _args.real(output_scale, "output_scale")
        self.preprocessing = _args.real(preprocessing, "preprocessing")
        kwargs = {}
        if weights is not None:
            if isinstance(weights, (str, bytes, np.ndarray)) or not hasattr(weights, "__iter__"):
                raise _core.Error(f"weights: expected a list of arrays, got {type(weights).__name__}")
            kwargs["weights"] = [as_float32(w, f"weights[{i}]") for i, w in enumerate(weights)]
        self._optimizer = _core.new("optimizer.Learned", hidden=self.hidden, layers=self.layers,
                                    output_scale=self.output_scale, preprocessing=self.preprocessing, cell=self.cell,
                                    seed=_args.count(seed, "seed", minimum=0), **kwargs)
        self._trainer = None

    @classmethod
    def _wrap(cls, core, hidden, layers, output_scale, preprocessing, cell="lstm"):
        self = cls.__new__(cls)
        self.hidden, self.layers, self.cell = int(hidden), int(layers), str(cell)
        # The file keeps float32 values widened to double: give them back as written (0.1, not 0.10000000149).
        self.output_scale, self.preprocessing = (float(str(np.float32(v))) for v in (output_scale, preprocessing))
        self._optimizer, self._trainer = core, None
        return self

    @property
    def weights(self):
        """The network's weights, a dict name -> float32 array (copies)."""
        import json
        r = self._optimizer.call("weights")
        return {name: np.array(w) for name, w in zip(json.loads(r["names"]), r["weights"])}

    def meta_train(self, problems, steps=100, meta_optimizer=None, unroll=100, truncation=20, meta_batch_size=1,
                   mode="first_order", seed=0, resume=False, validation_problems=None, validate_every=100,
                   validation_seed=None):
        """Meta-trains the weights on ``problems`` (``ms.learned.Quadratic``,
        ``ms.learned.MLP``) for ``steps`` truncations and returns their
        meta-losses (float32 array): each unroll draws ``meta_batch_size``
        new problems and runs ``unroll`` optimizee steps (100 in the paper)
        cut into truncations of ``truncation`` steps (20); a truncation's
        meta-loss is the sum of the optimizee's losses over its steps, and
        after each one ``meta_optimizer`` (default ``Adam(lr=1e-2)``) updates
        the weights. ``mode="first_order"`` is the paper's (the optimizee's
        gradients are constants); ``"exact"`` differentiates through them.
        ``resume=True`` carries on with the previous call's trainer (its
        problems in progress, Adam state and validations). The same seed
        gives the same weights bit for bit.

        With ``validation_problems=n``, the paper's selection (section 3):
        every ``validate_every`` truncations the weights are run, frozen, on
        ``n`` validation problems (drawn from ``validation_seed``, default
        ``seed + 1``; the same problems each time) for ``unroll`` steps, and
        the weights with the lowest mean final loss are the ones this
        optimizer keeps at the end (training itself carries on from the
        latest). :attr:`validations` lists them."""
        from .learned import _family
        if resume and self._trainer is not None:
            trainer = self._trainer
        else:
            meta = Adam(lr=1e-2) if meta_optimizer is None else meta_optimizer
            mode = _args.choice(mode, "mode", ("first_order", "exact"))
            seed = _args.count(seed, "seed", minimum=0)
            validation = {}
            if validation_problems is not None:
                validation = {"validation_problems": _args.count(validation_problems, "validation_problems"),
                              "validate_every": _args.count(validate_every, "validate_every")}
                if validation_seed is not None:  # else the engine's seed + 1 (wrapping)
                    validation["validation_seed"] = _args.count(validation_seed, "validation_seed", minimum=0)
            trainer = _core.new("optimizer_trainer", optimizer=self._optimizer,
                                problems=_family(problems, "problems"), meta_optimizer=engine(meta, "meta_optimizer"),
                                unroll=_args.count(unroll, "unroll"), truncation=_args.count(truncation, "truncation"),
                                meta_batch_size=_args.count(meta_batch_size, "meta_batch_size"), mode=mode,
                                seed=seed, **validation)
        losses = np.array(trainer.call("run", steps=_args.count(steps, "steps", minimum=0))["losses"])
        self._trainer = trainer
        return losses

    @property
    def validations(self):
        """The validations of the last :meth:`meta_train` (with
        ``validation_problems``): a dict with ``steps`` (truncations done at
        each), ``losses`` (their mean final validation losses) and
        ``best_step`` (whose weights this optimizer has; -1 before any). None
        before any meta-training."""
        if self._trainer is None:
            return None
        r = self._trainer.call("validations")
        return {"steps": np.array(r["steps"], dtype=np.int64), "losses": np.array(r["losses"]),
                "best_step": int(r["best_step"])}

    def learning_rates(self, n):
        raise _core.Error("optimizer: a learned optimizer has no learning rate (its network makes the steps)")

    def _hyper(self):
        return {"hidden": self.hidden, "layers": self.layers, "output_scale": self.output_scale,
                "preprocessing": self.preprocessing, **({"cell": self.cell} if self.cell != "lstm" else {})}


def _from_engine(core, recipe):
    """The optimizer a recipe read from a file describes (its rule,
    hyper-parameters and schedule), made again through this module's classes."""
    def plain(r):
        return {name: next(iter(typed.values())) for name, typed in r["arguments"].items()}

    kind, args = recipe["kind"], plain(recipe)
    if kind == "optimizer.Learned":
        return Learned._wrap(core, args["hidden"], args["layers"], args["output_scale"], args["preprocessing"],
                             args.get("cell", "lstm"))
    schedules = {"schedule.Cosine": CosineDecay, "schedule.Exponential": ExponentialDecay,
                 "schedule.Piecewise": PiecewiseConstant}
    lr = None
    if kind in schedules:
        base = args.pop("base")
        lr = schedules[kind](**args)
        kind, args = base["kind"], plain(base)
    rules = {"optimizer.SGD": SGD, "optimizer.Adam": Adam, "optimizer.AdamW": AdamW, "optimizer.Adagrad": Adagrad,
             "optimizer.RMSprop": RMSprop}
    if kind not in rules:
        raise _core.Error(f"optimizer: a file's optimizer of kind {kind!r} is not one of {sorted(rules)}")
    if "beta1" in args:
        args["betas"] = (args.pop("beta1"), args.pop("beta2"))
    if lr is not None:
        args["lr"] = lr
    return rules[kind](**args)
