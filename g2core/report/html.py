"""report.html: the README as one self-contained page, for MLflow's artifact viewer.

The viewer shows an artifact on its own, so the README's relative images are broken there and its links to
table.csv / table.tex open a 404. This page carries everything inside it: the markdown rendered to HTML
(tables as HTML tables), each figure inlined as a base64 data URI, each linked report file inlined as a
data URI download (too large ones say so instead).
"""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path

import markdown

MAX_INLINED_LINK = 2_000_000  # bytes: a linked file larger than this is named, not inlined
STYLE = (
    "body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45;"
    "max-width:1200px;margin:1em auto;padding:0 1em;color:#1f2328}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{padding:3px 9px;border:1px solid #d0d7de}"
    "th{background:#f6f8fa}img{max-width:100%;height:auto}code{background:#f6f8fa;padding:0 3px}"
    "h1,h2{border-bottom:1px solid #d0d7de;padding-bottom:0.2em}"
)
_ATTR = re.compile(r'(?P<attr>src|href)="(?P<url>[^"#:?]+)"')  # relative URLs only: no scheme, query, anchor


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".svg":
        kind = "image/svg+xml"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _inline(body: str, folder: Path) -> str:
    """Relative src/href of files in `folder` become data URIs (links also get a download name)."""

    def replace(match: re.Match[str]) -> str:
        attr, url = match["attr"], match["url"]
        path = folder / url
        if "/" in url or not path.is_file():
            return match[0]
        if attr == "href" and path.stat().st_size > MAX_INLINED_LINK:
            return f'title="{html.escape(url)}: in the report folder (too large to inline)"'
        extra = f' download="{html.escape(url)}"' if attr == "href" else ""
        return f'{attr}="{_data_uri(path)}"{extra}'

    return _ATTR.sub(replace, body)


def report_html(readme: str, folder: Path, title: str) -> str:
    """The README (markdown) as a standalone HTML page; its figures and files come from `folder`."""
    body = markdown.markdown(readme, extensions=["tables", "sane_lists"], output_format="html")
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{_inline(body, Path(folder))}\n</body>\n</html>\n"
    )
