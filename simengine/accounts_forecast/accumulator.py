"""The per-account accumulator: the kernel's per-chunk record folded into running sums and quantile
state per account (the array layer of the per-account forecast; see the package docstring)."""

from __future__ import annotations

import numpy as np

from simengine.kernels.layout import (
    A_CHURN_MONTH,
    A_LEAK_12M,
    A_OVERAGE_12M,
    A_REVENUE_12M,
    A_USE_CASES_12M,
    ACCOUNT_OUTPUTS,
)

__all__ = ["EXACT_LIMIT", "HIST_BINS", "HIST_LOG_RANGE", "AccountAccumulator"]

#: Largest draws x accounts for which every draw's revenue_12m is kept (64 MB of float64).
EXACT_LIMIT = 8_000_000
#: Histogram resolution when the exact values are not kept.
HIST_BINS = 700
HIST_LOG_RANGE = (-5.0, 2.0)
#: Accounts binned at a time (bounds the scratch memory of a histogram update).
_HIST_BLOCK = 2048


def _fold(total: np.ndarray, values: np.ndarray) -> None:
    """``total += values[0]; total += values[1]; ...``: draws added one at a time, in draw
    order, so the sums do not depend on how the draws were chunked (same bytes at any thread
    count, whose chunk size differs)."""
    for row in values:
        total += row


class AccountAccumulator:
    """Streaming per-account statistics over chunks of draws.

    Parameters
    ----------
    revenue_last : numpy.ndarray, shape (accounts,)
        Each account's revenue in the ``as_of`` month (scales the histogram; growth reference).
    draws : int
        Draws the run will add in total (decides exact vs histogram quantiles).
    exact_limit : int
        Keep exact values when ``draws * accounts <= exact_limit``.
    """

    def __init__(self, revenue_last: np.ndarray, draws: int, exact_limit: int = EXACT_LIMIT):
        self.revenue_last = np.asarray(revenue_last, dtype=np.float64)
        n = self.revenue_last.size
        self.n_accounts = n
        self.draws = int(draws)
        self.exact_limit = int(exact_limit)
        self.seen = 0
        self.sum_revenue = np.zeros(n)
        self.n_churn_3m = np.zeros(n)
        self.n_churn_12m = np.zeros(n)
        self.n_growth = np.zeros(n)
        self.n_overage = np.zeros(n)
        self.sum_overage = np.zeros(n)
        self.n_leak = np.zeros(n)
        self.sum_leak = np.zeros(n)
        self.sum_use_cases = np.zeros(n)
        self.n_use_case = np.zeros(n)
        self.exact = self.draws * n <= exact_limit
        if self.exact:
            self.values = np.empty((self.draws, n))
            self.hist = None
        else:
            self.values = None
            # Column 0 is the underflow bin (zero included), the last one the overflow bin.
            self.hist = np.zeros((n, HIST_BINS + 2), dtype=np.int32)
            self.scale = np.where(self.revenue_last > 0, 12.0 * self.revenue_last, 1.0)

    #: Per-account arrays a continued run needs (:meth:`state`), besides ``values``/``hist``.
    _SUMS = ("sum_revenue", "n_churn_3m", "n_churn_12m", "n_growth", "n_overage", "sum_overage",
             "n_leak", "sum_leak", "sum_use_cases", "n_use_case")  # fmt: skip

    def grow(self, draws: int) -> None:
        """Make room for ``draws`` draws in total (``sim.draws=auto`` adds blocks to a run).

        The result is the accumulator a run of ``draws`` draws would hold after the same draws:
        sums are folded draw by draw in draw order whatever the blocks; when ``draws x accounts``
        passes ``exact_limit`` the exact values kept so far are binned, which gives the counts
        binning them draw by draw would have given.
        """
        draws = int(draws)
        if draws < self.seen:
            raise ValueError(f"{self.seen} draws added already; cannot shrink to {draws}")
        self.draws = draws
        if not self.exact:
            return
        if draws * self.n_accounts > self.exact_limit:
            seen = self.values[: self.seen]
            self.exact, self.values = False, None
            self.hist = np.zeros((self.n_accounts, HIST_BINS + 2), dtype=np.int32)
            self.scale = np.where(self.revenue_last > 0, 12.0 * self.revenue_last, 1.0)
            for a in range(0, self.n_accounts, _HIST_BLOCK):
                b = min(a + _HIST_BLOCK, self.n_accounts)
                self.hist[a:b] += self._bin_counts(seen[:, a:b], self.scale[a:b])
        elif self.values.shape[0] < draws:
            values = np.empty((draws, self.n_accounts))
            values[: self.seen] = self.values[: self.seen]
            self.values = values

    def state(self) -> dict[str, np.ndarray]:
        """Everything a later block needs to continue this accumulator (:meth:`from_state`)."""
        out = {name: getattr(self, name) for name in self._SUMS}
        out["revenue_last"] = self.revenue_last
        out["seen"] = np.asarray(self.seen)
        if self.exact:
            out["values"] = self.values[: self.seen]
        else:
            out["hist"] = self.hist
        return out

    @classmethod
    def from_state(
        cls, state: dict[str, np.ndarray], draws: int, exact_limit: int = EXACT_LIMIT
    ) -> AccountAccumulator:
        """The accumulator :meth:`state` saved, with room for ``draws`` draws in total."""
        seen = int(state["seen"])
        acc = cls(state["revenue_last"], seen, exact_limit)
        if acc.exact != ("values" in state):  # saved in the other mode: rebuild that mode
            acc.exact = "values" in state
            acc.values = np.empty((seen, acc.n_accounts)) if acc.exact else None
            if not acc.exact:
                acc.scale = np.where(acc.revenue_last > 0, 12.0 * acc.revenue_last, 1.0)
        for name in cls._SUMS:
            getattr(acc, name)[...] = state[name]
        if acc.exact:
            acc.values[:seen] = state["values"]
        else:
            acc.hist = np.array(state["hist"], dtype=np.int32)
        acc.seen = seen
        acc.grow(draws)
        return acc

    @property
    def nbytes(self) -> int:
        """Bytes the accumulator holds (for the memory figures)."""
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays))

    def add(self, record: np.ndarray) -> None:
        """Fold one chunk's kernel record, shape (chunk draws, accounts, len(ACCOUNT_OUTPUTS))."""
        if record.ndim != 3 or record.shape[1:] != (self.n_accounts, len(ACCOUNT_OUTPUTS)):
            raise ValueError(f"record has shape {record.shape}")
        k = record.shape[0]
        if self.seen + k > self.draws:
            raise ValueError(f"more than {self.draws} draws added")
        revenue = record[:, :, A_REVENUE_12M]
        churn = record[:, :, A_CHURN_MONTH]
        overage = record[:, :, A_OVERAGE_12M]
        leak = record[:, :, A_LEAK_12M]
        cases = record[:, :, A_USE_CASES_12M]
        _fold(self.sum_revenue, revenue)
        # churn_month holds t + 1 for a churn at the boundary into forecast month t, 0 for none.
        self.n_churn_3m += ((churn >= 1) & (churn <= 3)).sum(axis=0)
        self.n_churn_12m += ((churn >= 1) & (churn <= 12)).sum(axis=0)
        self.n_growth += (revenue > 12.0 * self.revenue_last).sum(axis=0)
        self.n_overage += (overage > 0).sum(axis=0)
        _fold(self.sum_overage, overage)
        self.n_leak += (leak > 0).sum(axis=0)
        _fold(self.sum_leak, leak)
        _fold(self.sum_use_cases, cases)
        self.n_use_case += (cases > 0).sum(axis=0)
        if self.exact:
            self.values[self.seen : self.seen + k] = revenue
        else:
            # Blocks of accounts: the bincount's (accounts x bins) int64 scratch stays small.
            for a in range(0, self.n_accounts, _HIST_BLOCK):
                b = min(a + _HIST_BLOCK, self.n_accounts)
                self.hist[a:b] += self._bin_counts(revenue[:, a:b], self.scale[a:b])
        self.seen += k

    @staticmethod
    def _bin_counts(revenue: np.ndarray, scale: np.ndarray) -> np.ndarray:
        lo, hi = HIST_LOG_RANGE
        n = revenue.shape[1]
        ratio = revenue / scale[None, :]
        with np.errstate(divide="ignore"):
            pos = (np.log10(ratio) - lo) / (hi - lo) * HIST_BINS
        bins = np.where(ratio > 0, np.clip(np.floor(pos), -1, HIST_BINS) + 1, 0).astype(np.int64)
        flat = bins + (HIST_BINS + 2) * np.arange(n)[None, :]
        counts = np.bincount(flat.ravel(), minlength=n * (HIST_BINS + 2))
        return counts.reshape(n, HIST_BINS + 2)

    def quantiles(self, probs) -> np.ndarray:
        """Quantiles of ``revenue_12m`` per account, shape (len(probs), accounts)."""
        probs = np.asarray(probs, dtype=np.float64)
        if self.seen == 0:
            raise ValueError("no draws added")
        if self.exact:
            return np.quantile(self.values[: self.seen], probs, axis=0)
        lo, hi = HIST_LOG_RANGE
        width = (hi - lo) / HIST_BINS
        cum = np.cumsum(self.hist, axis=1)
        out = np.empty((probs.size, self.n_accounts))
        for j, p in enumerate(probs):
            target = p * self.seen
            b = (cum < target).sum(axis=1)  # first bin whose cumulative count reaches the target
            b = np.minimum(b, HIST_BINS + 1)
            before = np.where(b > 0, np.take_along_axis(cum, (b - 1)[:, None], 1)[:, 0], 0)
            inside = np.take_along_axis(self.hist, b[:, None], 1)[:, 0]
            frac = np.where(inside > 0, (target - before) / np.maximum(inside, 1), 0.5)
            edge = lo + (np.clip(b, 1, HIST_BINS) - 1 + np.clip(frac, 0, 1)) * width
            value = self.scale * 10.0**edge
            out[j] = np.where(b == 0, 0.0, value)  # the underflow bin reads as 0
        return out
