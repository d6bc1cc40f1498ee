"""When a hedge sends its backup request: the delay policies and the extra-request budget.

A policy answers one question per hedged call, `delay(key)`: how long to wait for the first
request before sending a backup (None: send none). It learns from `observe` (how long a
first request took; one cancelled after a backup won is observed at the time it was
cancelled, a lower bound that is above the delay anyway, so quantiles stay right) and from
`settled` (whether the call's backup fired). `key` is what the caller passed to `hedge` as
the workload's key (a model name, a prompt-length bucket...); None is one workload.

The policy object given to `hedge` also holds the budget's counters (calls, backups sent),
so one policy shared by every call of a condition is one budget: share it, do not build a
new one per call.
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from pytest_crucible.errors import ConfigError

__all__ = ["Adaptive", "Fixed", "HedgePolicy", "Percentile", "WorkloadAware"]


class HedgePolicy:
    """Base of the hedging policies: the budget's counters and the learning hooks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls = 0  # hedged calls started with this policy
        self.backups = 0  # backup requests sent

    def delay(self, key: Hashable) -> float | None:
        """Seconds to wait for the first request before a backup; None: no backup."""
        raise NotImplementedError

    def observe(self, key: Hashable, latency_s: float) -> None:
        """How long a first request took (or had taken when it was cancelled)."""

    def settled(self, key: Hashable, fired: bool, delay_s: float | None = None) -> None:
        """A hedged call is over; `fired`: its backup request was sent; `delay_s`: the
        delay it was given (None: none, no backup was possible)."""

    # -- the budget (called by `hedge`) ------------------------------------------------------

    def start_call(self) -> None:
        with self._lock:
            self.calls += 1

    def admit_backup(self, budget: float | None) -> bool:
        """Take a backup from the budget: at most `budget` x calls backups, at all times."""
        with self._lock:
            if budget is not None and self.backups + 1 > budget * self.calls + 1e-9:
                return False
            self.backups += 1
            return True

    def refund_backup(self) -> None:
        """A backup taken from the budget was not sent after all (no rate-limit permit)."""
        with self._lock:
            self.backups -= 1

    @property
    def extra_share(self) -> float:
        """Backups sent per hedged call so far."""
        with self._lock:
            return self.backups / self.calls if self.calls else 0.0


def check_budget(budget: float | None) -> float | None:
    if budget is None:
        return None
    if isinstance(budget, bool) or not isinstance(budget, int | float) or not 0 <= budget <= 1:
        raise ConfigError(
            f"hedge(budget={budget!r}): give the largest share of calls that may send a "
            "backup request, a number from 0 to 1 (0.1: at most 10% extra requests), or None"
        )
    return float(budget)


class Fixed(HedgePolicy):
    """A backup after the same `delay_s` seconds for every call."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        if isinstance(delay_s, bool) or not isinstance(delay_s, int | float) or delay_s < 0:
            raise ConfigError(
                f"Fixed(delay_s={delay_s!r}): give the seconds to wait before the backup "
                "request, a number >= 0"
            )
        self.delay_s = float(delay_s)

    def delay(self, key: Hashable) -> float | None:
        return self.delay_s

    def __repr__(self) -> str:
        return f"Fixed({self.delay_s})"


class _Window:
    """The last `size` latencies of one workload, kept sorted for quantiles."""

    __slots__ = ("order", "size", "sorted")

    def __init__(self, size: int) -> None:
        self.size = size
        self.order: deque[float] = deque()
        self.sorted: list[float] = []

    def add(self, value: float) -> None:
        self.order.append(value)
        bisect.insort(self.sorted, value)
        if len(self.order) > self.size:
            old = self.order.popleft()
            del self.sorted[bisect.bisect_left(self.sorted, old)]

    def quantile(self, level: float) -> float:
        """The empirical quantile at `level` (0-1), the nearest rank."""
        index = min(len(self.sorted) - 1, max(0, int(level * len(self.sorted))))
        return self.sorted[index]


def _check_learning(name: str, warmup: int, warmup_delay_s: float | None, window: int) -> None:
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 1:
        raise ConfigError(f"{name}(warmup={warmup!r}): give the observations needed first, >= 1")
    if isinstance(window, bool) or not isinstance(window, int) or window < warmup:
        raise ConfigError(
            f"{name}(window={window!r}): give how many recent latencies to keep, >= warmup "
            f"({warmup})"
        )
    if warmup_delay_s is not None and (
        not isinstance(warmup_delay_s, int | float) or warmup_delay_s < 0
    ):
        raise ConfigError(
            f"{name}(warmup_delay_s={warmup_delay_s!r}): give the delay used until enough "
            "latencies are seen (seconds >= 0), or None for no backup during the warm-up"
        )


class Percentile(HedgePolicy):
    """A backup once the first request has taken longer than the `p`-th percentile of the
    latencies observed (the last `window` of them) for its workload. `key(hedge_key)` maps
    the key given to `hedge` to the workload (default: the key itself, e.g. the model).
    Until `warmup` latencies are seen, the delay is `warmup_delay_s` (None: no backup)."""

    def __init__(
        self,
        p: float,
        *,
        key: Callable[[Any], Hashable] | None = None,
        warmup: int = 20,
        warmup_delay_s: float | None = None,
        window: int = 1000,
    ) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0 < p < 100:
            raise ConfigError(f"Percentile(p={p!r}): give a percentile between 0 and 100, e.g. 95")
        _check_learning(type(self).__name__, warmup, warmup_delay_s, window)
        self.p = float(p)
        self.key = key
        self.warmup = warmup
        self.warmup_delay_s = warmup_delay_s
        self.window = window
        self._windows: dict[Hashable, _Window] = {}

    def _workload(self, key: Hashable) -> Hashable:
        return key if self.key is None else self.key(key)

    def _level(self, workload: Hashable) -> float:
        return self.p / 100.0

    def delay(self, key: Hashable) -> float | None:
        workload = self._workload(key)
        with self._lock:
            window = self._windows.get(workload)
            if window is None or len(window.sorted) < self.warmup:
                return self.warmup_delay_s
            return window.quantile(self._level(workload))

    def observe(self, key: Hashable, latency_s: float) -> None:
        workload = self._workload(key)
        with self._lock:
            window = self._windows.get(workload)
            if window is None:
                window = self._windows[workload] = _Window(self.window)
            window.add(latency_s)

    def __repr__(self) -> str:
        return f"Percentile({self.p:g})"


class Adaptive(Percentile):
    """Learns the delay that spends `target_extra` backups per call (0.05: 5% extra
    requests). The delay is a quantile of the workload's recent latencies, as for
    `Percentile`, at a level that is learned: it starts at 1 - target_extra and, after each
    call, rises by `gain` x (1 - target) when a backup fired and falls by `gain` x target
    when none did (a Robbins-Monro stochastic approximation), so the share of calls that
    fired converges on the target whatever the latencies do.

    Why the level and not the delay itself: the share of calls slower than a quantile is
    one minus its level, so the learning has the same slope in any latency regime, and the
    window keeps tracking the latencies (its first, warm-up quantile is biased low under
    concurrency: the calls that finish first are the fast ones). A delay learned directly
    in seconds had to pay for that bias in extra backups, and with many calls in flight its
    late feedback made it oscillate. A quantile of the latencies at the fixed level alone
    would not meet the target either: once backups fire, a cancelled first request is only
    known to have taken longer than the delay (its tail is cut off). The default gain is
    small enough to stay stable with a few hundred calls in flight (the feedback of a call
    arrives after those started meanwhile)."""

    def __init__(
        self,
        target_extra: float = 0.05,
        *,
        key: Callable[[Any], Hashable] | None = None,
        warmup: int = 20,
        warmup_delay_s: float | None = None,
        window: int = 1000,
        gain: float = 0.002,
    ) -> None:
        if (
            isinstance(target_extra, bool)
            or not isinstance(target_extra, int | float)
            or not 0 < target_extra < 0.5
        ):
            raise ConfigError(
                f"Adaptive(target_extra={target_extra!r}): give the share of calls that may "
                "send a backup, between 0 and 0.5 (0.05: 5% extra requests)"
            )
        if isinstance(gain, bool) or not isinstance(gain, int | float) or not 0 < gain <= 0.1:
            raise ConfigError(
                f"Adaptive(gain={gain!r}): give the level's step per call, between 0 and 0.1 "
                "(default 0.002; smaller with more calls in flight)"
            )
        super().__init__(
            100 * (1 - target_extra),
            key=key,
            warmup=warmup,
            warmup_delay_s=warmup_delay_s,
            window=window,
        )
        self.target_extra = float(target_extra)
        self.gain = float(gain)
        self._levels: dict[Hashable, float] = {}

    def _level(self, workload: Hashable) -> float:
        return self._levels.get(workload, 1 - self.target_extra)

    def level(self, key: Hashable = None) -> float:
        """The quantile level learned for `key`'s workload (0-1)."""
        workload = self._workload(key)
        with self._lock:
            return self._level(workload)

    def settled(self, key: Hashable, fired: bool, delay_s: float | None = None) -> None:
        # A call of the warm-up (no delay) counts too, as one that did not fire: the target
        # is a share of all the calls, and under concurrency the warm-up is not short. Not
        # before a latency was observed: calls answered from a recording (a replay) observe
        # none and would pull the level down to the median for the live calls after them.
        workload = self._workload(key)
        step = (1 - self.target_extra) if fired else -self.target_extra
        with self._lock:
            if delay_s is None and workload not in self._windows:
                return
            level = self._level(workload) + self.gain * step
            # within the window's resolution: the median at the least, its last rank at most
            self._levels[workload] = min(1.0, max(0.5, level))

    def __repr__(self) -> str:
        return f"Adaptive(target_extra={self.target_extra:g})"


class WorkloadAware(HedgePolicy):
    """Separate delays per workload: `key_fn(hedge_key)` names the workload (e.g. a prompt's
    length bucket: `lambda prompt: len(prompt) // 1000`), and each workload gets its own
    policy from `policy()` (default: `Percentile(95)`)."""

    def __init__(
        self,
        key_fn: Callable[[Any], Hashable],
        policy: Callable[[], HedgePolicy] | None = None,
    ) -> None:
        super().__init__()
        if not callable(key_fn):
            raise ConfigError(
                f"WorkloadAware(key_fn={key_fn!r}): give a function from the key passed to "
                "hedge(key=...) to its workload, e.g. lambda prompt: len(prompt) // 1000"
            )
        self.key_fn = key_fn
        self.make_policy = policy if policy is not None else (lambda: Percentile(95))
        self.policies: dict[Hashable, HedgePolicy] = {}

    def _policy(self, key: Hashable) -> HedgePolicy:
        workload = self.key_fn(key)
        with self._lock:
            policy = self.policies.get(workload)
            if policy is None:
                policy = self.make_policy()
                if not isinstance(policy, HedgePolicy):
                    raise ConfigError(
                        f"WorkloadAware(policy=...) returned {policy!r}: it must return a new "
                        "policy per workload, e.g. lambda: Percentile(95)"
                    )
                self.policies[workload] = policy
            return policy

    def delay(self, key: Hashable) -> float | None:
        return self._policy(key).delay(key)

    def observe(self, key: Hashable, latency_s: float) -> None:
        self._policy(key).observe(key, latency_s)

    def settled(self, key: Hashable, fired: bool, delay_s: float | None = None) -> None:
        self._policy(key).settled(key, fired, delay_s)

    def __repr__(self) -> str:
        return f"WorkloadAware({len(self.policies)} workloads)"
