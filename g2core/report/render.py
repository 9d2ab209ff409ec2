"""The report's third stage: the tables, figures, README and report.html, written whole into the report
folder (staging.py), from what read.py read and decide.py decided."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from g2core.names import REPORT_HTML, REPORT_README

from . import cross_dataset as across
from . import grad_shares, markdown, pareto, search_compute
from .decide import Decisions
from .delta_tables import baseline_table, details_table
from .figures import Drawn
from .grad_shares import grad_share_table
from .html import report_html
from .read import StudyRecords
from .staging import publish, staging_folder
from .study_figures import draw_figures
from .tables import Table, csv_text, main_table, to_csv, to_html, to_latex


@dataclass
class Rendered:
    files: list[Path]  # README.md and report.html first
    text: str  # the README
    main: Table  # the Results table (its links become MLflow routes in the parent's copy)
    notes: list[str]  # the README's notes: the reads' and the figures'


def render(records: StudyRecords, decided: Decisions, out_dir: Path, split: str, figures: bool) -> Rendered:
    info, summary, columns, comparison = records.info, records.summary, records.columns, decided.comparison
    notes = list(records.notes)
    final_dir, out_dir = Path(out_dir), staging_folder(Path(out_dir))  # written whole, then moved in
    tables = [main_table(info, summary, columns, comparison, records.uri, split)]
    if not comparison.empty:
        tables.append(baseline_table(info, summary, columns.metrics, comparison, split))
        tables.append(details_table(info, comparison))
    balance = grad_share_table(info, records.grad_shares)
    if balance is not None:  # after the tables the README indexes (0-2): in the .tex and .html files too
        tables.append(balance)
    if decided.cross is not None:
        tables.append(decided.cross.table)
    kind = "weight search" if info.is_search else "ablation"
    heading = f"Study {info.name}: {kind} report ({split} split)"
    written = {
        "table.csv": to_csv(info, summary, columns, comparison),
        "comparison.csv": csv_text(comparison),
        "table.tex": to_latex(tables, f"g2-{info.name}"),
        "table.html": to_html(tables, heading),
    }
    if decided.cross is not None:
        written[across.CSV] = csv_text(decided.cross.comparison)
    files = [out_dir / name for name in written]
    for path, text in zip(files, written.values(), strict=True):
        path.write_text(text, encoding="utf-8")
    drawn: list[Drawn] = []
    if figures:
        drawn = draw_figures(info, summary, columns, records.figures, out_dir, notes, comparison)
        drawn += pareto.draw_front(decided.front, out_dir)
    files += [d.path for d in drawn] + [d.svg for d in drawn]

    text = markdown.readme(
        records,
        heading,
        decided.verdict,
        tables,
        drawn,
        notes,
        split,
        confirmation=decided.confirmed.section if decided.confirmed is not None else "",
        front=pareto.section(decided.front),
        more=[grad_shares.section(balance), across.section(info, decided.cross)],
    )
    text = search_compute.with_section(text, decided.compute, info)  # a search's stages, after those
    readme = out_dir / REPORT_README
    readme.write_text(text, encoding="utf-8")
    # issue 14, MLflow as its users know it: a page the artifact viewer renders
    page = out_dir / REPORT_HTML
    page.write_text(report_html(text, out_dir, heading), encoding="utf-8")
    files = publish(out_dir, final_dir, [readme, page, *files])
    return Rendered(files, text, tables[0], notes)
