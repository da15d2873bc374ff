"""Loss functions the benchmarks differentiate that live outside examples/, in a module
that imports only numpy and the runtime (so a fresh process loads it quickly).

`four_layer` is examples/four_layer_regression.py's loss, line for line (that module
imports scikit-learn, which would count in a compile-latency measurement); `rnn_loss`
is the recurrence of issue 3; `mlp_loss` the digits MLP of examples/digits_mlp.py.
"""
import numpy as np

from runtime.functions import logsumexp, relu, sigmoid


def four_layer(x, y, V1, V2, V3, w):
    h1 = sigmoid(V1 @ x)
    h2 = sigmoid(V2 @ h1)
    h3 = sigmoid(V3 @ h2)
    residual = w @ h3 - y
    return residual ** 2


def rnn_loss(W, U, h0, xs):
    h = h0
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h * h)


def mlp_loss(X, Y, W1, b1, W2, b2):
    """Mean softmax cross-entropy of a batch X (b, d) with one-hot labels Y (b, k), one
    ReLU hidden layer (examples/digits_mlp.py's model)."""
    H = relu(X @ W1.T + b1)
    Z = H @ W2.T + b2
    return np.mean(logsumexp(Z, axis=1) - np.sum(Y * Z, axis=1))
