"""The MLflow UI, as a researcher sees it, on a real study logged to a real `mlflow server`.

Selectors are what a person reads (run names, file names, headings) wherever MLflow offers them; the
few MLflow-internal hooks (the runs-table expand button, chart cards) are named constants.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import (
    CHILD_RUNS,
    PARENT_RUN,
    LoggedStudy,
    artifact,
    close_assistant,
    open_folder,
    show_child_runs,
)

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is missing: pip install -e '.[test]'"
)
expect = sync_api.expect

pytestmark = pytest.mark.browser

CHART_CARD = '[data-testid="experiment-view-compare-runs-card"]'
# The baseline has two loss terms, so its charts show more than one per-term training loss.
CHART_RUN = "ssi_silog-s0"
CHART_KEYS = ("train/loss_ssi", "train/loss_silog", "val/delta1")
ARTIFACT_RUN = "ssi_only-s0"


def test_runs_table_nests_children_under_the_study_run(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.experiment_url())
    parent = page.get_by_role("link", name=PARENT_RUN, exact=True)
    expect(parent).to_be_visible()
    assert parent.get_attribute("href").endswith(f"/runs/{logged_study.parent_run_id}")
    children = show_child_runs(page, parent, CHILD_RUNS)
    parent_box = parent.bounding_box()
    for name, link in children.items():
        expect(link).to_be_visible()
        assert link.get_attribute("href").endswith(f"/runs/{logged_study.child_run_ids[name]}"), name
        box = link.bounding_box()
        # Nested: listed below the parent and indented to the right of it.
        assert box["y"] > parent_box["y"] and box["x"] > parent_box["x"], (name, box, parent_box)
    close_assistant(page)


def decoded_width(image) -> int:
    """The image's natural width once the browser decoded it (0 or an error: it did not load)."""
    return image.evaluate("img => img.decode().then(() => img.naturalWidth)")


def metric_cards(page):
    """The run's metric chart cards; the per-epoch sample grid (log_image, SAMPLES_IMAGE_KEY) has a card of
    its own that the metric search does not filter."""
    from g2core.names import SAMPLES_IMAGE_KEY

    return page.locator(CHART_CARD).filter(has_not_text=SAMPLES_IMAGE_KEY)


def test_child_run_charts_show_per_term_losses_and_delta1(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(CHART_RUN, "model-metrics"))
    search = page.get_by_placeholder("Search metric charts")
    expect(search).to_be_visible()
    close_assistant(page)
    # The search box takes a regular expression: keep exactly the charts under test on screen.
    search.fill("|".join(re.escape(key) for key in CHART_KEYS))
    cards = metric_cards(page)
    for key in CHART_KEYS:
        card = cards.filter(has_text=f"{CHART_RUN} ({key})")
        expect(card).to_have_count(1)
        # A drawn plotly chart, not an empty card.
        expect(card.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    expect(cards).to_have_count(len(CHART_KEYS))


def test_child_artifacts_list_the_checkpoint(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(ARTIFACT_RUN, "artifacts"))
    expect(artifact(page, "checkpoints")).to_be_visible()
    close_assistant(page)
    for name in ("samples", "config.yaml"):
        expect(artifact(page, name)).to_be_visible()
    open_folder(page, "checkpoints")
    # tracking.log_checkpoints=best (the default): best.pt, what `evaluate.py ckpt=runs:/<id>/...` reads
    expect(artifact(page, "best.pt")).to_be_visible()
    expect(artifact(page, "last.pt")).to_have_count(0)
    artifact(page, "best.pt").click()
    # The detail pane names the selected file (with its size): the server found it in its artifact store.
    expect(page.get_by_text("checkpoints/best.pt", exact=True)).to_be_visible()


def test_sample_image_previews_through_the_server(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(ARTIFACT_RUN, "artifacts"))
    expect(artifact(page, "samples")).to_be_visible()
    close_assistant(page)
    open_folder(page, "samples")
    sample = page.get_by_label(re.compile(r"^epoch_\d{3}\.png$")).last
    expect(sample).to_be_visible()
    sample.click()
    # The UI downloads the PNG through the server (--serve-artifacts) and shows it from a blob URL.
    image = page.locator('img[src^="blob:"]').first
    expect(image).to_be_visible()
    assert decoded_width(image) > 100, "the sample preview did not decode"


def test_study_run_shows_the_report(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(PARENT_RUN, "artifacts"))
    expect(artifact(page, "report")).to_be_visible()
    close_assistant(page)
    open_folder(page, "report")
    artifact(page, "README.md").click()
    # The markdown renders: the report's own headings, not its source text.
    expect(page.get_by_role("heading", name="Study loss_terms: ablation report")).to_be_visible()
    expect(page.get_by_role("heading", name="Verdict")).to_be_visible()


# --- issue 14: MLflow as its users know it -------------------------------------------------------------
HTML_VIEW = "iframe.mlflow-html-iframe"  # MLflow's artifact viewer renders an .html file in this iframe
TITLE = "Study loss_terms: ablation report (test split)"


@pytest.mark.xfail(
    strict=True,
    reason="MLflow 3.17's UI opens an experiment in the view named by ?workflowType= or else by the browser's "
    "stored GenAI / Model training switch (default GenAI); its workflow-based navigation is always on and never "
    "reads the experiment's mlflow.experimentKind tag, which the project sets (tests/test_mlflow_conventions.py) "
    "for the MLflow 3 UIs that do read it. The project's own links carry workflowType=machine_learning. Strict: "
    "when an MLflow release honours the tag again this passes and the marker must go.",
)
def test_experiment_opens_in_the_classic_runs_view(page, logged_study: LoggedStudy) -> None:
    """No workflowType in the URL: opened by the experiment's kind tag, the runs table."""
    page.goto(f"{logged_study.uri}/#/experiments/{logged_study.experiment_id}")
    expect(page.get_by_role("link", name=PARENT_RUN, exact=True)).to_be_visible(timeout=20_000)
    close_assistant(page)
    assert "traces" not in page.url and "chat-sessions" not in page.url, page.url


def test_study_run_shows_the_verdict_and_table_as_its_description(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(PARENT_RUN, "overview"))
    # mlflow.note.content, rendered: the verdict in plain words first (issue 24: no title, the run name says
    # which study), then the main table with one row per variant.
    expect(page.get_by_text("Against ssi_silog on test abs_rel", exact=False).first).to_be_visible()
    close_assistant(page)
    table = page.locator("table", has_text="ssi_only").first
    expect(table).to_be_visible()
    expect(table.get_by_text("ssi_silog", exact=False).first).to_be_visible()


def test_report_html_renders_with_its_figures(page, logged_study: LoggedStudy) -> None:
    page.goto(logged_study.run_url(PARENT_RUN, "artifacts"))
    expect(artifact(page, "report")).to_be_visible()
    close_assistant(page)
    open_folder(page, "report")
    artifact(page, "report.html").click()
    frame = page.frame_locator(HTML_VIEW)
    expect(frame.get_by_role("heading", name=TITLE)).to_be_visible()
    expect(frame.get_by_role("heading", name="Verdict")).to_be_visible()
    expect(frame.locator("table").first).to_be_visible()
    figure = frame.locator('img[src^="data:image/png;base64,"]').first
    expect(figure).to_be_visible()
    assert decoded_width(figure) > 100, "an inlined figure did not decode"


def test_children_have_no_reference_metrics(page, logged_study: LoggedStudy) -> None:
    from mlflow import MlflowClient

    from g2core.names import REF, ref_param, split_of

    page.goto(logged_study.run_url(CHART_RUN, "model-metrics"))
    search = page.get_by_placeholder("Search metric charts")
    expect(search).to_be_visible()
    close_assistant(page)
    cards = metric_cards(page)
    search.fill(re.escape("val/delta1"))
    expect(cards).to_have_count(1)  # the charts are drawn: an empty answer below is not a page still loading
    search.fill(f"^{REF}/")
    expect(cards).to_have_count(0)
    client = MlflowClient(logged_study.uri)
    for run_id in logged_study.child_run_ids.values():
        run = client.get_run(run_id)
        assert not [k for k in run.data.metrics if split_of(k) == REF], run_id
        assert ref_param("abs_rel") in run.data.params, run_id


# --- issue 24: what a reader concludes ---------------------------------------------------------------------
VERDICT_START = "Against ssi_silog on test abs_rel"  # the parent description's first words: the verdict
DESCRIPTION_COLUMN = '[col-id="attributes.`Description`"]'  # the runs table's Description attribute column
NOTE = "note-editor-preview-content"  # a run page's rendered description


def test_parent_row_first_line_is_the_verdict(page, logged_study: LoggedStudy) -> None:
    """The runs table's Description column shows the parent's description cut to its first line: that line is
    the verdict in plain words (no markdown title, no asterisks)."""
    page.goto(logged_study.experiment_url())
    parent = page.get_by_role("link", name=PARENT_RUN, exact=True)
    expect(parent).to_be_visible()
    close_assistant(page)
    if not page.locator(f".ag-header-cell{DESCRIPTION_COLUMN}").count():  # hidden by default: show it
        page.get_by_role("button", name="Columns").click()
        page.get_by_text("Description", exact=True).last.click()
        page.keyboard.press("Escape")
    row = page.locator(".ag-row", has=parent).first.get_attribute("row-index")
    cell = page.locator(f'.ag-row[row-index="{row}"] {DESCRIPTION_COLUMN}').first
    expect(cell).to_be_visible()
    expect(cell).to_have_text(re.compile(rf"^{re.escape(VERDICT_START)}"))
    assert "*" not in cell.inner_text() and "#" not in cell.inner_text()


def test_links_in_the_descriptions_open_the_runs(page, logged_study: LoggedStudy) -> None:
    """The parent's description links each seed's run (a UI route that opens its page, here as a new tab as
    MLflow opens description links), and a trial run's description links back to its parent."""
    page.goto(logged_study.run_url(PARENT_RUN, "overview"))
    expect(page.get_by_text(VERDICT_START).first).to_be_visible()
    close_assistant(page)
    more = page.get_by_text("Show more", exact=True)
    if more.count():  # a long description is folded under its first lines
        more.first.click()
    row = page.locator("tr", has=page.get_by_role("cell", name=ARTIFACT_RUN.split("-s")[0], exact=True))
    seed = row.get_by_role("link", name="s0", exact=True).first
    with page.expect_popup() as opened:
        seed.click()
    child = opened.value
    expect(child.get_by_role("heading", name=ARTIFACT_RUN)).to_be_visible()
    assert (
        logged_study.child_run_ids[ARTIFACT_RUN] in child.url and "workflowType=machine_learning" in child.url
    )
    # the trial run's own description: variant, seed and a link to the parent
    expect(child.get_by_text("Trial run", exact=False).first).to_be_visible()
    with child.expect_popup() as back:
        child.get_by_test_id(NOTE).get_by_role("link", name=PARENT_RUN, exact=True).click()
    expect(back.value.get_by_role("heading", name=PARENT_RUN)).to_be_visible()
    assert logged_study.parent_run_id in back.value.url


def test_report_readme_leads_to_its_figures(page, logged_study: LoggedStudy) -> None:
    """MLflow's markdown view draws no image from a relative address, so the README says where each figure
    is: its link opens the figure's preview in the run's artifacts, where the image loads."""
    page.goto(logged_study.run_url(PARENT_RUN, "artifacts"))
    expect(artifact(page, "report")).to_be_visible()
    close_assistant(page)
    open_folder(page, "report")
    artifact(page, "README.md").click()
    expect(page.get_by_role("heading", name="Figures")).to_be_visible()
    expect(page.get_by_text("[metrics](", exact=False)).to_have_count(0)  # no raw markdown image
    with page.expect_popup() as opened:  # MLflow's markdown view opens a link to another page in a new tab
        page.get_by_role("link", name="metrics.png", exact=True).first.click()
    image = opened.value.locator('img[src^="blob:"]').first
    expect(image).to_be_visible()
    assert decoded_width(image) > 100, "the figure did not decode"


def test_image_grid_shows_a_sample(page, logged_study: LoggedStudy) -> None:
    """MLflow 3.17's image grid opens at step 0: the sample grid is logged with the epoch index as its step."""
    from g2core.names import SAMPLES_IMAGE_KEY

    page.goto(logged_study.run_url(ARTIFACT_RUN, "model-metrics"))
    search = page.get_by_placeholder("Search metric charts")
    expect(search).to_be_visible()
    close_assistant(page)
    search.fill(SAMPLES_IMAGE_KEY)
    card = page.locator(CHART_CARD).filter(has_text=SAMPLES_IMAGE_KEY).first
    expect(card).to_be_visible()
    sample = card.locator("img").first
    expect(sample).to_be_visible(timeout=20_000)
    assert decoded_width(sample) > 0


def test_no_summary_metric_precedes_the_test_metrics(page, logged_study: LoggedStudy) -> None:
    """The column picker lists metrics by name: the parent's headline metrics (vs_baseline/...) come after the
    test metrics a reader looks for, and no `summary/` metric floods the list."""
    from g2core.names import TEST, VS_BASELINE

    page.goto(logged_study.experiment_url())
    expect(page.get_by_role("link", name=PARENT_RUN, exact=True)).to_be_visible()
    close_assistant(page)
    page.get_by_role("button", name="Columns").click()
    listed = page.get_by_text(re.compile(r"^Metrics \(\d+\)")).first
    expect(listed).to_be_visible()
    expect(page.get_by_text(f"{TEST}/abs_rel", exact=True).first).to_be_visible()
    names = page.evaluate(
        """() => Array.from(document.querySelectorAll('[role="dialog"] *, [role="menu"] *'))
            .filter(e => e.children.length === 0).map(e => e.textContent.trim()).filter(Boolean)"""
    )
    metrics = [n for n in names if re.match(r"^[a-z_]+/", n)]
    first_test = next(i for i, n in enumerate(metrics) if n.startswith(f"{TEST}/"))
    early = [n for n in metrics[:first_test] if n.startswith(("summary/", f"{VS_BASELINE}/"))]
    assert not early, early
    assert not [n for n in metrics if n.startswith("summary/")]
    page.keyboard.press("Escape")


def test_one_click_on_model_training_makes_every_way_in_classic(page, logged_study: LoggedStudy) -> None:
    """What `ui` and the README say (g2core.stack.ui.SWITCH_HINT): after one click on "Model training", a
    bare experiment address (no workflowType) opens the runs table in this browser."""
    page.goto(f"{logged_study.uri}/#/")
    switch = page.get_by_role("button", name="Model training")
    expect(switch).to_be_visible()
    switch.click()
    page.goto(f"{logged_study.uri}/#/experiments/{logged_study.experiment_id}")
    expect(page.get_by_role("link", name=PARENT_RUN, exact=True)).to_be_visible()
    assert "workflowType=machine_learning" in page.url, page.url


def test_grouped_by_variant_answers_who_won(page, logged_study: LoggedStudy) -> None:
    """The README's grouped view: Group by the `variant` tag gives one group per variant of its seeds' runs;
    the trial runs selected, Compare offers the Box Plot over them."""
    page.goto(logged_study.experiment_url())
    expect(page.get_by_role("link", name=PARENT_RUN, exact=True)).to_be_visible()
    close_assistant(page)
    page.get_by_role("button", name="Group by").click()
    page.locator('[role="menu"], [role="dialog"], [role="listbox"]').first.get_by_text(
        "variant", exact=True
    ).first.click()
    page.keyboard.press("Escape")
    for name in CHILD_RUNS:
        expect(page.get_by_text(f"Group: {name.split('-s')[0]}", exact=True)).to_be_visible()
    page.locator(".ag-header-select-all input, .ag-header-cell input[type=checkbox]").first.check()
    page.get_by_role("button", name="Compare").first.click()
    expect(page.get_by_role("tab", name="Box Plot")).to_be_visible()
    assert all(run_id in page.url for run_id in logged_study.child_run_ids.values()), page.url


def test_logged_study_carries_no_local_path_and_describes_its_trials(logged_study: LoggedStudy) -> None:
    from mlflow import MlflowClient

    from g2core.names import TAG_MLFLOW_NOTE, study_tag

    client = MlflowClient(logged_study.uri)
    storage = client.get_run(logged_study.parent_run_id).data.tags[study_tag("storage")]
    assert storage == "studies/loss_terms/optuna.journal", storage  # relative to paths.root
    for name, run_id in logged_study.child_run_ids.items():
        note = client.get_run(run_id).data.tags[TAG_MLFLOW_NOTE]
        variant, seed = name.split("-s")
        assert f"variant `{variant}`, seed {seed}" in note and logged_study.parent_run_id in note, note
