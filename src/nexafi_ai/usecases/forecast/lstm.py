"""A small LSTM pooled over symbols: the optional deep point forecaster (``pip install .[deep]``).

One layer of ``hidden`` units reads the last ``window`` daily log returns of a symbol, each
divided by that window's own standard deviation (so symbols of different volatility share one
model), and predicts the cumulative log return over the training horizon ``h`` in the same
units. Like LightGBM, its path is ``min(k, h) / h`` times that prediction.

Training is bounded and reproducible: a seeded subsample of at most ``max_rows`` windows, a
fixed number of epochs on one CPU thread, the seed applied to a forked torch RNG. ``torch`` is
imported only when the model is fitted or loaded, so ``nexafi_ai`` never needs it; without it
:func:`require_torch` raises a :class:`ValueError` saying which extra to install.

The weights are stored without pickle: :meth:`LstmForecaster.to_arrays` gives the state dict as
named numpy arrays (plus the shape of the network), which ``np.savez`` writes and
:meth:`LstmForecaster.from_arrays` loads back exactly.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from nexafi_ai.usecases.base import NotFittedError
from nexafi_ai.usecases.forecast.models import PointForecaster

__all__ = ["INSTALL_HINT", "LstmForecaster", "require_torch", "torch_available"]

FloatArray = NDArray[np.float64]

INSTALL_HINT = "the lstm forecast model needs PyTorch: install the deep extra: pip install .[deep]"
#: Floor of a window's standard deviation (a flat window must not divide by zero).
_MIN_SCALE = 1e-8
#: Keys of :meth:`LstmForecaster.to_arrays` that describe the network, not its weights.
_META = ("meta_window", "meta_hidden", "meta_horizon")


def torch_available() -> bool:
    """Whether PyTorch can be imported (without importing it)."""
    return importlib.util.find_spec("torch") is not None


def require_torch() -> Any:
    """The ``torch`` module, or a :class:`ValueError` naming the extra to install."""
    try:
        import torch
    except ImportError as exc:
        raise ValueError(INSTALL_HINT) from exc
    return torch


def _network(torch: Any, hidden: int) -> Any:
    class _Lstm(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lstm = torch.nn.LSTM(input_size=1, hidden_size=hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x: Any) -> Any:
            out, _ = self.lstm(x)
            return self.head(out[:, -1, :]).squeeze(-1)

    return _Lstm()


class LstmForecaster(PointForecaster):
    """One-layer LSTM over standardised recent returns, pooled over symbols."""

    name: ClassVar[str] = "lstm"

    def __init__(
        self,
        window: int = 30,
        hidden: int = 16,
        epochs: int = 8,
        batch_size: int = 256,
        max_rows: int = 20_000,
        learning_rate: float = 3e-3,
    ) -> None:
        self.window = window
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_rows = max_rows
        self.learning_rate = learning_rate
        self.net_: Any = None
        self.horizon_: int | None = None

    # ------------------------------------------------------------------ inputs
    def _windows(self, log_prices: FloatArray, ends: NDArray[np.intp]) -> tuple[FloatArray, ...]:
        """Standardised return windows ending at prices ``ends`` (exclusive), and their scale.

        A window shorter than ``window`` (an early origin) is padded with zero returns.
        """
        returns = np.concatenate([np.zeros(self.window), np.diff(log_prices)])
        # Price index e has returns 1..e-1; in the padded array they end at window + e - 1.
        stop = ends + self.window - 1
        index = stop[:, None] + np.arange(-self.window, 0)[None, :]
        raw = returns[index]
        scale = np.maximum(raw.std(axis=1), _MIN_SCALE)
        return raw / scale[:, None], scale

    # ------------------------------------------------------------------ fit
    def fit(self, histories: Sequence[FloatArray], horizon: int, seed: int = 0) -> Self:
        torch = require_torch()
        inputs, targets = [], []
        for log_prices in histories:
            n = len(log_prices)
            ends = np.arange(self.window + 1, n - horizon + 1, dtype=np.intp)
            if len(ends) == 0:
                continue
            x, scale = self._windows(log_prices, ends)
            y = (log_prices[ends - 1 + horizon] - log_prices[ends - 1]) / scale
            inputs.append(x)
            targets.append(y / np.sqrt(horizon))
        if not inputs:
            raise ValueError(f"lstm needs series longer than {self.window + horizon + 1}")
        x_all, y_all = np.concatenate(inputs), np.concatenate(targets)
        rng = np.random.default_rng(seed)
        if len(y_all) > self.max_rows:
            keep = np.sort(rng.choice(len(y_all), self.max_rows, replace=False))
            x_all, y_all = x_all[keep], y_all[keep]
        # A crash day's standardised return is an outlier the squared loss would chase.
        y_all = np.clip(y_all, -5.0, 5.0)

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = _network(torch, self.hidden)
                optimiser = torch.optim.Adam(
                    net.parameters(), lr=self.learning_rate, weight_decay=1e-4
                )
                xt = torch.from_numpy(x_all.astype(np.float32)).unsqueeze(-1)
                yt = torch.from_numpy(y_all.astype(np.float32))
                net.train()
                for _ in range(self.epochs):
                    order = torch.from_numpy(rng.permutation(len(y_all)))
                    for start in range(0, len(order), self.batch_size):
                        batch = order[start : start + self.batch_size]
                        optimiser.zero_grad()
                        loss = torch.nn.functional.mse_loss(net(xt[batch]), yt[batch])
                        loss.backward()
                        optimiser.step()
                net.eval()
        finally:
            torch.set_num_threads(threads)
        self.net_ = net
        self.horizon_ = horizon
        return self

    # ------------------------------------------------------------------ predict
    def predict(self, index: int, log_prices: FloatArray, horizon: int) -> FloatArray:
        ends = np.array([len(log_prices)], dtype=np.intp)
        path: FloatArray = self.predict_origins(log_prices, ends, horizon)[0]
        return path

    def predict_origins(
        self, log_prices: FloatArray, origins: NDArray[np.intp], horizon: int
    ) -> FloatArray:
        """Paths after ``log_prices[:o]`` for every origin ``o`` at once (one forward pass)."""
        if self.net_ is None or self.horizon_ is None:
            raise NotFittedError("lstm is not fitted")
        torch = require_torch()
        x, scale = self._windows(np.asarray(log_prices, dtype=np.float64), origins)
        with torch.no_grad():
            out = self.net_(torch.from_numpy(x.astype(np.float32)).unsqueeze(-1))
        total = out.numpy().astype(np.float64) * scale * np.sqrt(self.horizon_)
        steps = np.minimum(np.arange(1, horizon + 1), self.horizon_) / self.horizon_
        paths: FloatArray = np.nan_to_num(total)[:, None] * steps[None, :]
        return paths

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> dict[str, NDArray[Any]]:
        """The network as named numpy arrays (``np.savez`` stores them without pickle)."""
        if self.net_ is None or self.horizon_ is None:
            raise NotFittedError("lstm is not fitted")
        arrays: dict[str, NDArray[Any]] = {
            f"w_{key}": value.detach().cpu().numpy().copy()
            for key, value in self.net_.state_dict().items()
        }
        arrays["meta_window"] = np.array(self.window, dtype=np.int64)
        arrays["meta_hidden"] = np.array(self.hidden, dtype=np.int64)
        arrays["meta_horizon"] = np.array(self.horizon_, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, NDArray[Any]]) -> LstmForecaster:
        """A fitted forecaster from :meth:`to_arrays` (raises ``ValueError`` without torch)."""
        torch = require_torch()
        missing = [k for k in _META if k not in arrays]
        if missing:
            raise ValueError(f"lstm weights lack {', '.join(missing)}")
        forecaster = cls(window=int(arrays["meta_window"]), hidden=int(arrays["meta_hidden"]))
        net = _network(torch, forecaster.hidden)
        state = {k[2:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k[:2] == "w_"}
        net.load_state_dict(state)
        net.eval()
        forecaster.net_ = net
        forecaster.horizon_ = int(arrays["meta_horizon"])
        return forecaster
