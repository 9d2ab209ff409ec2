"""g2core: trains a monocular depth network with one loss recipe, many times, and says which recipe is better.

Layers, in dependency order (a layer imports those above it; the exceptions: validate.py asks the model
registry for size rules, a study writes its report):
  net.py                 the one pid / port / HTTP probe (tracking, study, report and stack use it).
  design.py              how a study decides: α, equivalence margin, looks over seeds (alpha spending).
  names.py               the one vocabulary: loss terms, metric keys, MLflow tags/params, artifact paths,
                         experiment names. Plain Python (no torch), imported by every layer.
  schema.py, checks.py   the config contract: the typed tree, and the checks of one key (type, range, name).
  config.py              compose (Hydra, typed by the schema), hash, flatten, redact.
  validate.py            the one validator of a whole config, with one-line errors.
  models/ losses/ metrics/ data/  the pieces of one run (torch); they know nothing of MLflow or studies.
  sample_grid.py         the one sample-grid drawing (trainer samples, the report's qualitative figure).
  tracking/              MLflow client side: store, run identity, batched logging, outages.
  train/                 one run; knows nothing of studies.
  evaluation/            a checkpoint on any data (experiments/evaluate.py, study.test_sets); train's evaluation code.
  study/                 many runs as one Optuna study; calls train(), never its steps.
  report/                reads MLflow only (no torch, no Optuna storage): statistics, tables, figures, verdicts.
  stack/                 serving MLflow and PostgreSQL: a leaf, nothing in the library imports it.
  cli.py                 what the entry points in experiments/ share.
"""
