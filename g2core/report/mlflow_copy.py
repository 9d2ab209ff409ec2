"""The report's copies read inside MLflow (issue 24): links that work where they are read.

The files written to disk keep their links (relative files, `runs:/`, the artifact store's own URI). The
copies logged to the parent run under `report/` are read in MLflow's UI, where:
- README.md is rendered as markdown in the page itself: a relative `metrics.png` resolves against the
  server's root (404), `runs:/<id>` is no browser address and `file://` opens nothing. Its files are linked
  through the artifact route of the same server, `get-artifact?path=...&run_uuid=...`, its runs as UI
  routes `#/experiments/<exp>/runs/<id>`; both relative, so they work on any host and port. MLflow 3.17's
  markdown view draws an image only from an absolute address (a relative one is shown as `[alt](src)` text),
  which the report cannot know for a store served later by `python -m g2core.stack ui`: each figure becomes
  a link to its preview in the run's Artifacts tab (provenance.artifact_page_route; `get-artifact` would
  only download it; report.html shows them all inline);
- report.html is shown from a blob in an iframe sandboxed to `allow-scripts` (MLflow 3.17's
  ShowArtifactHtmlView): no link in it can navigate or download there. Its figures stay inlined; its links
  become text naming the address to copy (a run id, an artifact path), never a dead link.
No absolute `file://` path is logged in either.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from g2core.names import REPORT_HTML, REPORT_README

from .provenance import artifact_page_route, artifact_route, run_route

# [label](target) of a markdown link or image; targets hold no spaces or parentheses here.
_MD_LINK = re.compile(r"(?P<bang>!?)\[(?P<label>[^\]]*)\]\((?P<url>[^)\s]+)\)")
# A run's artifact under an artifact store URI: .../<run id>/artifacts/<path>
_ARTIFACT_URI = re.compile(r"^[a-z][a-z0-9+.-]*://.*/(?P<run>[0-9a-f]{32})/artifacts/(?P<path>.+)$")
_RUNS_URI = re.compile(r"^runs:/(?P<run>[0-9a-f]{32})(?:/(?P<path>.+))?$")
_HTML_LINK = re.compile(r'<a href="(?P<url>[^"]*)"(?P<rest>[^>]*)>(?P<label>.*?)</a>', re.S)


def readme_in_mlflow(text: str, folder: str, parent_run_id: str, experiment_id: str) -> str:
    """README.md as logged under `folder` of the parent run: every link a route of the MLflow server."""

    def route(match: re.Match[str]) -> str:
        url, label, bang = match["url"], match["label"], match["bang"]
        runs = _RUNS_URI.match(url)
        stored = _ARTIFACT_URI.match(url)
        if runs and not runs["path"]:
            target, run, path = run_route(experiment_id, runs["run"]), runs["run"], ""
        elif runs or stored:
            hit = runs or stored
            target, run, path = artifact_route(hit["run"], hit["path"]), hit["run"], hit["path"]
        elif "://" in url or url.startswith(("#", "data:", "mailto:", "get-artifact")):
            return match[0]  # a server's own address, an anchor: it works where it is
        else:  # a file beside the README
            run, path = parent_run_id, f"{folder}/{url}"
            target = artifact_route(run, path)
        if bang and path:  # a figure: MLflow's markdown view draws no image from a relative address (above)
            page = artifact_page_route(experiment_id, run, path)
            return f"**Figure:** [{path.rsplit('/', 1)[-1]}]({page}) (MLflow's markdown view draws no images)"
        return f"{bang}[{label}]({target})"

    return _MD_LINK.sub(route, text)


def html_in_mlflow(page: str, folder: str) -> str:
    """report.html as logged: links that the sandboxed viewer cannot follow become copyable text (what to
    open, and where); anchors within the page stay links."""

    def unlink(match: re.Match[str]) -> str:
        url, rest, label = html.unescape(match["url"]), match["rest"], match["label"]
        if url.startswith("#"):
            return match[0]
        download = re.search(r'download="([^"]*)"', rest)
        runs, stored = _RUNS_URI.match(url), _ARTIFACT_URI.match(url)
        if download:
            where = f"artifact {folder}/{html.unescape(download[1])} of this run"
        elif runs:
            where = f"runs:/{runs['run']}" + (f"/{runs['path']}" if runs["path"] else "")
        elif stored:
            where = f"runs:/{stored['run']}/{stored['path']}"
        else:
            where = url
        return f"{label} (<code>{html.escape(where)}</code>)"

    return _HTML_LINK.sub(unlink, page)


def logged_copies(
    files: list[Path], scratch: Path, folder: str, parent_run_id: str, experiment_id: str
) -> list[Path]:
    """The report's files as logged to MLflow: README.md and report.html rewritten into `scratch` (same
    names) as above, every other file as it is."""
    out = []
    for path in files:
        if path.name == REPORT_README:
            text = readme_in_mlflow(path.read_text(encoding="utf-8"), folder, parent_run_id, experiment_id)
        elif path.name == REPORT_HTML:
            text = html_in_mlflow(path.read_text(encoding="utf-8"), folder)
        else:
            out.append(path)
            continue
        copy = scratch / path.name
        copy.write_text(text, encoding="utf-8")
        out.append(copy)
    return out
