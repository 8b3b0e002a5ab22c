"""Run a batch on an engine: skip finished outputs, write each result atomically,
report each file, one overall progress bar; the exit status says whether all passed."""
from __future__ import annotations

import sys
import time

from snf.batch.plan import finished
from snf.format.container import write_atomic
from snf.progress import Bar


class Batch:
    def __init__(self, items: list, settings: dict, quiet: bool = False, stream=None):
        self.items, self.settings = items, settings
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.bar = Bar(quiet=quiet, stream=self.stream)
        self.fraction = {}
        self.ok, self.failed, self.skipped = [], [], []

    def _say(self, text: str, always: bool = False) -> None:
        if always and self.quiet:
            print(text, file=self.stream, flush=True)
        else:
            self.bar.line(text)

    def _draw(self, force: bool = False) -> None:
        todo = len(self.fraction)
        done = sum(self.fraction.values())
        self.bar.update("batch", done, max(1, todo), f"{len(self.ok)}/{todo} done, {len(self.failed)} failed, "
                        f"{len(self.skipped)} skipped", force=force)

    def on_progress(self, name: str, fraction: float) -> None:
        if name in self.fraction:
            self.fraction[name] = max(self.fraction[name], min(0.99, fraction))
            self._draw()

    def on_done(self, item, result: dict | None, error: str | None) -> None:
        if error is None:
            try:
                write_atomic(item.output, result["bytes"])
            except OSError as e:
                error = f"{item.output}: {e.strerror or e}"
        self.fraction[item.name] = 1.0
        if error is None:
            self.ok.append(item)
            self._say(f"ok {item.name}: {result['levels']} levels, {len(result['bytes']):,} bytes, "
                      f"last level {result['psnr']:.2f} dB, {result['seconds']:.1f} s -> {item.output}")
        else:
            self.failed.append((item, error))
            self._say(f"FAILED {item.name}: {error}", always=True)
        self._draw(force=True)

    def run(self, engine) -> int:
        """0 if every input is encoded (or was already), 1 if any failed."""
        t0 = time.monotonic()
        todo = []
        for it in self.items:
            if finished(it, self.settings):
                self.skipped.append(it)
            else:
                todo.append(it)
        self.fraction = {it.name: 0.0 for it in todo}
        if self.skipped:
            self._say(f"skipping {len(self.skipped)} finished output(s) (complete, newer than the input, "
                      f"same settings)")
        if todo:
            self._say(f"encoding {len(todo)} input(s) on {engine.describe()}")
            self._draw(force=True)
            engine.run(todo, self.settings, self.on_progress, self.on_done)
        self._say(f"batch: {len(self.ok)} encoded, {len(self.skipped)} skipped, {len(self.failed)} failed "
                  f"in {time.monotonic() - t0:.1f} s", always=bool(self.failed))
        return 1 if self.failed else 0
