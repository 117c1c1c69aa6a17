"""A new worker's start-up (in a Ray actor: re-running Ray's worker script) is not charged to a deadline."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

# The parent's main script sleeps at import time, as Ray's worker script spends time importing Ray; every
# forkserver child re-runs it before serving. A replacement worker's first call must still succeed
# within a deadline far shorter than that start-up.
SCRIPT = textwrap.dedent(
    """
    import time
    time.sleep(0.8)
    if __name__ == "__main__":
        from dissect_lrm.reward.robust import robust_equal
        from dissect_lrm.reward.timeout import DeadlinePool

        pool = DeadlinePool(workers=1)
        first = pool.call(robust_equal, ("1", "1"), 0.3)
        killed = pool.call(time.sleep, (30,), 0.3)
        replaced = pool.call(robust_equal, ("2", "2"), 0.3)
        pool.close()
        print(first.ok, first.value, killed.timed_out, replaced.ok, replaced.value)
    """
)


def test_first_call_on_a_replacement_worker_gets_its_whole_deadline(tmp_path: Path) -> None:
    script = tmp_path / "actor_main.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "True", "True", "True", "True"]
