"""An independent NumPy reference for the gradient-based learners, in float64.

An MLP ``x @ W1 + b1 -> act -> ... -> x @ Wn + bn`` with its forward pass,
its gradient by hand-written backpropagation, and its Hessian-vector product
by Pearlmutter's R-operator (``R{f} = d/dr f(theta + r v)`` at r = 0), pushed
through the forward and the backward pass by hand. The learners are then a
few lines each: the inner updates, and the meta-gradient by the chain rule
backwards through them, ``v <- v - lr * H(theta_j) v`` per step for MAML.

Nothing here calls the engine; ``test_reference_*`` checks the reference
itself against finite differences.
"""
import numpy as np

ACTIVATIONS = {
    # name: (f, f', f'')
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2, lambda z: -2 * np.tanh(z) * (1 - np.tanh(z) ** 2)),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(z.dtype), lambda z: np.zeros_like(z)),
}


def layers(params):
    return [(params[2 * i], params[2 * i + 1]) for i in range(len(params) // 2)]


def forward(params, x, act):
    """Pre-activations z_l and activations a_l (a_0 = x; the last layer is linear)."""
    f = ACTIVATIONS[act][0]
    a, z = [x], []
    ls = layers(params)
    for i, (w, b) in enumerate(ls):
        z.append(a[-1] @ w + b)
        a.append(f(z[-1]) if i < len(ls) - 1 else z[-1])
    return z, a


def _output_delta(out, y, loss):
    """Loss and dLoss/d(output)."""
    if loss == "mse":
        n = y.size
        return np.mean((out - y) ** 2), 2 * (out - y) / n
    labels = y.reshape(-1).astype(int)
    rows = out.shape[0]
    shifted = out - out.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    value = -np.mean(np.log(p[np.arange(rows), labels]))
    onehot = np.zeros_like(out)
    onehot[np.arange(rows), labels] = 1
    return value, (p - onehot) / rows


def _output_r_delta(out, r_out, y, loss):
    """R{dLoss/d(output)}: the loss's Hessian (in the output) times R{output}."""
    if loss == "mse":
        return 2 * r_out / y.size
    shifted = out - out.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return p * (r_out - (p * r_out).sum(axis=1, keepdims=True)) / out.shape[0]


def loss_and_grad(params, x, y, act, loss="mse"):
    _, d1, _ = ACTIVATIONS[act]
    z, a = forward(params, x, act)
    value, delta = _output_delta(a[-1], y, loss)
    grads = [None] * len(params)
    ls = layers(params)
    for i in reversed(range(len(ls))):
        grads[2 * i] = a[i].T @ delta
        grads[2 * i + 1] = delta.sum(axis=0)
        if i > 0:
            delta = (delta @ ls[i][0].T) * d1(z[i - 1])
    return value, grads


def hvp(params, x, y, act, v, loss="mse"):
    """H(params) v, the Hessian of the loss times the direction ``v`` (a list
    shaped like ``params``), by the R-operator."""
    _, d1, d2 = ACTIVATIONS[act]
    z, a = forward(params, x, act)
    ls, vs = layers(params), layers(v)
    # R-forward: R{z_l} = R{a_l-1} W_l + a_l-1 V_W + V_b; R{a_l} = f'(z_l) R{z_l}.
    ra, rz = [np.zeros_like(x)], []
    for i, ((w, _), (vw, vb)) in enumerate(zip(ls, vs)):
        rz.append(ra[-1] @ w + a[i] @ vw + vb)
        ra.append(d1(z[i]) * rz[-1] if i < len(ls) - 1 else rz[-1])
    # R-backward through delta_l-1 = (delta_l W_l^T) * f'(z_l-1).
    _, delta = _output_delta(a[-1], y, loss)
    r_delta = _output_r_delta(a[-1], ra[-1], y, loss)
    out = [None] * len(params)
    for i in reversed(range(len(ls))):
        w, vw = ls[i][0], vs[i][0]
        out[2 * i] = ra[i].T @ delta + a[i].T @ r_delta
        out[2 * i + 1] = r_delta.sum(axis=0)
        if i > 0:
            back = delta @ w.T
            r_back = r_delta @ w.T + delta @ vw.T
            delta, r_delta = back * d1(z[i - 1]), r_back * d1(z[i - 1]) + back * d2(z[i - 1]) * rz[i - 1]
    return out


def _axpy(a, xs, ys):
    return [a * x + y for x, y in zip(xs, ys)]


def _mean(lists):
    return [np.mean(parts, axis=0) for parts in zip(*lists)]


def maml(params, tasks, act, lr, steps, first_order=False, loss="mse", head=None):
    """MAML's (FOMAML's; ANIL's when ``head`` is a set of adapted parameter
    indices) meta-loss and meta-gradient, averaged over tasks."""
    mask = [1.0 if head is None or i in head else 0.0 for i in range(len(params))]
    losses, grads = [], []
    for xs, ys, xq, yq in tasks:
        thetas = [params]
        for _ in range(steps):
            _, g = loss_and_grad(thetas[-1], xs, ys, act, loss)
            thetas.append([t - lr * m * gi for t, m, gi in zip(thetas[-1], mask, g)])
        value, v = loss_and_grad(thetas[-1], xq, yq, act, loss)
        if not first_order:
            # d theta_j+1 / d theta_j = I - lr M H_j, so v <- v - lr H_j (M v).
            for theta in reversed(thetas[:-1]):
                v = _axpy(-lr, hvp(theta, xs, ys, act, [m * vi for m, vi in zip(mask, v)], loss), v)
        losses.append(value)
        grads.append(v)
    return np.mean(losses), _mean(grads)


def metasgd(params, rates, tasks, act, steps, first_order=False, loss="mse"):
    """Meta-SGD's meta-loss and the gradients for the parameters, then the rates."""
    losses, grads = [], []
    for xs, ys, xq, yq in tasks:
        thetas, inner = [params], []
        for _ in range(steps):
            _, g = loss_and_grad(thetas[-1], xs, ys, act, loss)
            inner.append(g)
            thetas.append([t - r * gi for t, r, gi in zip(thetas[-1], rates, g)])
        value, v = loss_and_grad(thetas[-1], xq, yq, act, loss)
        g_rates = [np.zeros_like(r) for r in rates]
        for theta, g in zip(reversed(thetas[:-1]), reversed(inner)):
            # theta_j+1 = theta_j - rates * g_j: d/d rates = -g_j; d/d theta_j = I - diag(rates) H_j.
            g_rates = [gr - gi * vi for gr, gi, vi in zip(g_rates, g, v)]
            if not first_order:
                v = _axpy(-1, hvp(theta, xs, ys, act, [r * vi for r, vi in zip(rates, v)], loss), v)
        losses.append(value)
        grads.append(v + g_rates)
    return np.mean(losses), _mean(grads)


def sgd(params, x, y, act, lr, steps, loss="mse"):
    """``steps`` plain gradient-descent steps from ``params``."""
    theta = params
    for _ in range(steps):
        _, g = loss_and_grad(theta, x, y, act, loss)
        theta = [t - lr * gi for t, gi in zip(theta, g)]
    return theta


def reptile(params, tasks, act, lr, steps, loss="mse"):
    """Reptile's mean query loss after adaptation and its direction theta - mean(adapted)."""
    losses, adapted = [], []
    for xs, ys, xq, yq in tasks:
        theta = sgd(params, xs, ys, act, lr, steps, loss)
        losses.append(loss_and_grad(theta, xq, yq, act, loss)[0])
        adapted.append(theta)
    return np.mean(losses), [p - a for p, a in zip(params, _mean(adapted))]
