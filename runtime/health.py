"""Gradient health: warnings when a parameter's gradient vanishes or explodes.

The lecture's checklist for training neural networks: careful initialisation,
overparameterisation, adaptive step sizes (AdaGrad, Adam), and "don't let gradients
vanish or explode!". `runtime.train.fit` measures, inside its compiled loop, the norm
of every parameter's gradient at every step; once per epoch `GradientHealth.check`
reads the epoch's summary and warns, naming the parameter:

- vanishing: the parameter's RMS step gradient norm sqrt(mean_k ||g_k||^2) stays below
  `vanish * scale` for `patience` consecutive epochs, where scale is the larger of the
  largest parameter's RMS norm in the same epoch (the signal that reaches the layers
  nearest the loss) and sqrt(|training loss|) (the size of a squared-error gradient,
  2 |residual| ||input||). The test is relative, so a model that fits its data
  perfectly (loss and gradients both tending to 0) or a loss that grows huge does not
  warn, while early layers of a deep saturated stack, or a network whose units all
  saturated (every gradient ~0 while the loss is not), do;
- exploding: a step's gradient norm is not finite (training stops before that update),
  or it exceeds `explode` times the parameter's RMS norm in the first epoch.

Each parameter warns at most once per kind per `fit`. The warnings are
`VanishingGradientWarning` / `ExplodingGradientWarning` (subclasses of
`GradientWarning`, a `UserWarning`): `warnings.simplefilter("error", GradientWarning)`
turns them into exceptions.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

__all__ = ["GradientWarning", "VanishingGradientWarning", "ExplodingGradientWarning",
           "GradientHealth", "VANISHING_ADVICE", "EXPLODING_ADVICE"]


class GradientWarning(UserWarning):
    """A parameter's gradient vanished or exploded during training."""


class VanishingGradientWarning(GradientWarning):
    pass


class ExplodingGradientWarning(GradientWarning):
    pass


VANISHING_ADVICE = (
    "The lecture's advice: initialise carefully (runtime.init.glorot_normal for sigmoid/"
    "tanh layers, runtime.init.he_normal for ReLU layers, instead of tiny or huge "
    "weights), use adaptive step sizes (AdaGrad, Adam), overparameterise (more hidden "
    "units); don't let gradients vanish or explode.")
EXPLODING_ADVICE = (
    "The lecture's advice: lower the step size, clip gradients by global norm (e.g. "
    "Adam(clip_norm=1.0)), use adaptive step sizes (AdaGrad, Adam) and initialise "
    "carefully (runtime.init.glorot_normal / he_normal); don't let gradients vanish or "
    "explode.")


@dataclass
class GradientHealth:
    """Thresholds for the gradient-health warnings (see the module docstring).

    vanish: relative threshold (> 0) on RMS gradient norm / scale; patience: epochs in
    a row (>= 1); explode: growth factor (> 1) over the first epoch's RMS norm."""

    vanish: float = 1e-6
    patience: int = 3
    explode: float = 1e3
    _low: dict = field(default_factory=dict, repr=False)
    _first: dict = field(default_factory=dict, repr=False)
    _warned: set = field(default_factory=set, repr=False)

    def __post_init__(self):
        if not self.vanish > 0 or int(self.patience) < 1 or not self.explode > 1:
            raise ValueError(f"GradientHealth needs vanish > 0, patience >= 1 and explode > 1, "
                             f"got {self.vanish}, {self.patience}, {self.explode}")
        self.patience = int(self.patience)

    def reset(self):
        self._low.clear()
        self._first.clear()
        self._warned.clear()

    def _warn(self, kind, name, message, cls, messages):
        if (kind, name) in self._warned:
            return
        self._warned.add((kind, name))
        messages.append(message)
        warnings.warn(message, cls, stacklevel=4)

    def check(self, epoch: int, rms: dict, peak: dict, loss: float,
              nonfinite: list | None = None, lr: float | None = None) -> list[str]:
        """Warn about this epoch's gradients; returns the messages issued.

        epoch: 1-based; rms, peak: {parameter: RMS / largest step gradient norm of the
        epoch}; loss: the epoch's mean training loss; nonfinite: parameters (or 'the
        loss') that were not finite at the step where training stopped; lr: shown in
        the advice."""
        out = []
        step = f" (lr={lr:g})" if lr is not None else ""
        for name in nonfinite or ():
            what = "the loss" if name is None else f"the gradient of {name!r}"
            self._warn("nonfinite", name,
                       f"exploding gradient: {what} became NaN or infinite in epoch {epoch}; "
                       f"training stopped before that update{step}. {EXPLODING_ADVICE}",
                       ExplodingGradientWarning, out)
        finite = [r for r in rms.values() if math.isfinite(r)]
        scale = max(finite + [math.sqrt(abs(loss)) if math.isfinite(loss) else 0.0])
        for name, r in rms.items():
            if not math.isfinite(r):
                continue
            self._first.setdefault(name, r)
            ref = self._first[name]
            if ref > 0 and peak[name] > self.explode * ref:
                self._warn("explode", name,
                           f"exploding gradient: the gradient norm of {name!r} reached "
                           f"{peak[name]:.3g} in epoch {epoch}, {peak[name] / ref:.3g} times its "
                           f"first-epoch RMS norm {ref:.3g}{step}. {EXPLODING_ADVICE}",
                           ExplodingGradientWarning, out)
            if r < self.vanish * scale:
                self._low[name] = self._low.get(name, 0) + 1
            else:
                self._low[name] = 0
            if self._low[name] >= self.patience:
                self._warn("vanish", name,
                           f"vanishing gradient: the RMS gradient norm of {name!r} has been "
                           f"below {self.vanish:g} x {scale:.3g} for {self._low[name]} epochs "
                           f"(epoch {epoch}: norm {r:.3g}, loss {loss:.4g}; the scale is the "
                           f"largest parameter gradient norm or sqrt(|loss|)); {name!r} is "
                           f"barely learning. {VANISHING_ADVICE}",
                           VanishingGradientWarning, out)
        return out
