"""Batch encoding: many inputs, one output folder, on a local process pool or a Dask cluster.

`plan` decides what to encode (folder expansion, output names, what a rerun can
skip), `task` is the one function a worker runs (input bytes + settings dict ->
.snf bytes), `local` and `cluster` are the two engines that run it, and `run`
collects results, writes each output atomically on the submitting machine and
reports per file. Scheduling, retries and worker health belong to the engine
(concurrent.futures or Dask distributed), not to this package.
"""
