"""The report's results table and the Markdown, LaTeX, HTML and CSV forms of every table it writes.

Tables are built once as plain text cells with a bold flag, then rendered per format, so the four files
always say the same thing.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import pandas as pd

from g2core.names import metric_spec, terms_of

from . import verdicts
from .collect import StudyInfo
from .columns import Columns, weight_column
from .fmt import sig
from .provenance import group_links
from .summary import Summary
from .values import OBJECTIVE

LINKS = "runs (selected checkpoint)"


@dataclass
class Cell:
    text: str
    bold: bool = False
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url): rendered as links


@dataclass
class Table:
    title: str
    header: list[str]
    align: list[str]  # "l" or "r" per column
    rows: list[list[Cell]] = field(default_factory=list)


def header_label(column: str, lower_is_better: bool) -> str:
    return f"{column} {'↓' if lower_is_better else '↑'}"


def main_table(
    info: StudyInfo, summary: Summary, columns: Columns, comparison: pd.DataFrame, uri: str, split: str
) -> Table:
    """One row per variant (or trial), one column per metric and loss term: mean ± std over seeds.

    Bold: significantly best after Holm (verdicts.significantly_best); loss-term columns are never bold."""
    first = "trial" if info.is_search else "variant"
    directions = {c: metric_spec(c, info.lower_is_better).lower_is_better for c in columns.metrics}
    directions.update({c: True for c in columns.terms})
    header = [first] + [weight_column(t) for t in columns.weights] + ["n"]
    header += [f"{OBJECTIVE} ({info.metric})"] if info.is_search else []
    header += [header_label(c, directions[c]) for c in columns.values] + [LINKS]
    title = (
        f"{info.name}: {split} metrics of each run's selected checkpoint (best by {info.metric}), "
        "mean ± std over seeds (↓ lower, ↑ higher is better; bold: significantly best after correction)"
    )
    table = Table(title, header, ["l"] + ["r"] * (len(header) - 2) + ["l"])
    best = {c: verdicts.significantly_best(comparison, info.baseline, c) for c in columns.metrics}
    weights = weights_by_group(summary) if columns.weights else {}
    for group in summary.groups:
        runs = summary.runs(group)
        partial = int(summary.partial[group])
        n_text = f"{runs} ({partial} partial)" if partial else str(runs)
        row_ = [Cell(group)] + [
            Cell(sig(weights.get(group, {}).get(t, float("nan")), 3)) for t in columns.weights
        ]
        row_.append(Cell(n_text))
        if info.is_search:
            row_.append(Cell(sig(summary.mean.loc[group, OBJECTIVE])))
        for c in columns.values:
            text = summary.cell(group, c)
            row_.append(Cell(text, bold=bool(text) and best.get(c) == group))
        links = group_links(uri, info, summary.values, group)
        row_.append(Cell(" ".join(label for label, _ in links), links=links))
        table.rows.append(row_)
    return table


def weights_by_group(summary: Summary) -> dict[str, dict[str, float]]:
    """A search trial's loss weights (the first run of each group: all runs of a trial share them)."""
    if summary.values.empty:
        return {}
    first_rows = summary.values.drop_duplicates("group", keep="first").set_index("group")
    terms = terms_of(first_rows.columns, prefix=weight_column(""))
    return {g: {t: float(first_rows.loc[g, weight_column(t)]) for t in terms} for g in first_rows.index}


# ---------------------------------------------------------------- renderers


def to_markdown(table: Table) -> str:
    def cell(c: Cell) -> str:
        if c.links:
            return " ".join(f"[{label}]({url})" for label, url in c.links)
        text = c.text.replace("|", "\\|")
        return f"**{text}**" if c.bold and text else text

    rule = ["---" if a == "l" else "---:" for a in table.align]
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in table.header) + " |"]
    lines.append("| " + " | ".join(rule) + " |")
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def to_html(tables: list[Table], title: str) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{html.escape(title)}</title>',
        "<style>table{border-collapse:collapse;font-family:sans-serif;font-size:14px;margin-bottom:2em}"
        "th,td{padding:4px 10px;border-bottom:1px solid #ccc}th{border-bottom:2px solid #333}"
        "td.r,th.r{text-align:right}td.l,th.l{text-align:left}</style></head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for table in tables:
        parts.append(f"<h2>{html.escape(table.title)}</h2>")
        parts.append("<table>")
        head = "".join(
            f'<th class="{a}">{html.escape(h)}</th>' for h, a in zip(table.header, table.align, strict=True)
        )
        parts.append(f"<thead><tr>{head}</tr></thead>")
        parts.append("<tbody>")
        for row in table.rows:
            cells = []
            for c, a in zip(row, table.align, strict=True):
                text = html.escape(c.text)
                if c.links:
                    text = " ".join(
                        f'<a href="{html.escape(url)}">{html.escape(label)}</a>' for label, url in c.links
                    )
                cells.append(f'<td class="{a}">{f"<b>{text}</b>" if c.bold and text else text}</td>')
            parts.append(f"<tr>{''.join(cells)}</tr>")
        parts.append("</tbody>")
        parts.append("</table>")
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "Δ": r"$\Delta$",
    "<": r"$<$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "▲": r"$\blacktriangle$",
    "▼": r"$\blacktriangledown$",
    "⚠": "!",
}


def tex_escape(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(tables: list[Table], label: str) -> str:
    """booktabs tables, each scaled to the line width (needs booktabs, graphicx and amssymb)."""
    parts = [
        "% Generated by g2core.report. Needs \\usepackage{booktabs}, \\usepackage{graphicx} and "
        "\\usepackage{amssymb}."
    ]
    for index, table in enumerate(tables):

        def cell(c: Cell) -> str:
            text = tex_escape(c.text)
            # A leading minus (a negative Δ) set as a math minus, not a hyphen.
            text = "$-$" + text[1:] if text.startswith("-") else text
            return f"\\textbf{{{text}}}" if c.bold and text else text

        parts += [
            "\\begin{table}[t]",
            "\\centering",
            f"\\caption{{{tex_escape(table.title)}}}",
            f"\\label{{tab:{label}-{index}}}",
            "\\resizebox{\\linewidth}{!}{%",
            f"\\begin{{tabular}}{{{''.join(table.align)}}}",
            "\\toprule",
            " & ".join(tex_escape(h) for h in table.header) + " \\\\",
            "\\midrule",
        ]
        parts += [" & ".join(cell(c) for c in row) + " \\\\" for row in table.rows]
        parts += ["\\bottomrule", "\\end{tabular}}", "\\end{table}", ""]
    return "\n".join(parts)


def to_csv(info: StudyInfo, summary: Summary, columns: Columns, comparison: pd.DataFrame) -> str:
    """The numbers behind the tables, unrounded (8 significant digits), one row per variant or trial."""
    first = "trial" if info.is_search else "variant"
    weights = weights_by_group(summary) if columns.weights else {}
    records = []
    for group in summary.groups:
        record: dict[str, object] = {first: group}
        record.update({weight_column(t): weights.get(group, {}).get(t) for t in columns.weights})
        record.update(n=summary.runs(group), n_partial=int(summary.partial[group]))
        for c in columns.values:
            record[f"{c}_mean"] = summary.mean.loc[group, c]
            record[f"{c}_std"] = summary.std.loc[group, c]
            record[f"{c}_n"] = int(summary.n.loc[group, c])
        for c in columns.metrics if not comparison.empty else []:
            r = verdicts.row(comparison, group, c)
            for stat in CSV_STATS:
                record[f"{c}_{stat}"] = r[stat] if r is not None else None
        rows = summary.values[summary.values["group"] == group] if not summary.values.empty else []
        record["run_ids"] = " ".join(rows["run_id"]) if len(rows) else ""
        records.append(record)
    return csv_text(pd.DataFrame(records))


def csv_text(frame: pd.DataFrame) -> str:
    """A table's numbers as CSV, unrounded (8 significant digits)."""
    return frame.to_csv(index=False, float_format="%.8g", lineterminator="\n")


CSV_STATS = (
    "delta",
    "delta_pct",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "mark",
    "verdict",
    "p_wilcoxon",
    "p_welch",
)
