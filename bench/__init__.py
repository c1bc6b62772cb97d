"""`make bench` (`python -m bench`): wall time and peak memory of the pipeline, per stage and per
ticker, written to `bench.json` in the outputs folder. A tool run from the repository, not part
of the runner or the installed package.

- `chains`: runs `python -m runner ...` in a fresh outputs folder and times it stage by stage
  as the runner logs them, sampling the memory of the runner and its kernels;
- `synthetic`: the synthetic universe and the in-process per-ticker measurements;
- `__main__`: the command line, the report and its Markdown table.
"""
