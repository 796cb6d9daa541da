"""The memory figures the benchmarks report, read from ``/proc/self/status`` (Linux).

``RssAnon`` is what the process allocated; ``VmHWM`` its peak resident set, which also
counts pages of files it mapped (memory-mapped caches), pages the kernel can drop. The
kernel keeps only the current ``RssAnon``, so :class:`PeakSampler` samples it every 10 ms.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType


def status_kb(key: str) -> int:
    """A ``/proc/self/status`` field in kB (0 where there is no /proc: macOS)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return 0
    return 0


class PeakSampler:
    """``with PeakSampler() as peak: ...`` (or ``start()`` ... ``stop()``) then
    ``peak.anon_mb``: the largest ``RssAnon`` seen meanwhile (sampled every 10 ms, and once
    more at the end)."""

    def __init__(self) -> None:
        self.anon_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.anon_kb = max(self.anon_kb, status_kb("RssAnon"))
            time.sleep(0.01)

    def start(self) -> PeakSampler:
        """Start sampling (what ``with`` does)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sampling, with a last sample (what leaving ``with`` does)."""
        self._stop.set()
        self._thread.join()
        self.anon_kb = max(self.anon_kb, status_kb("RssAnon"))

    def __enter__(self) -> PeakSampler:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    @property
    def anon_mb(self) -> float:
        """The peak allocated memory in MB."""
        return self.anon_kb / 1024
