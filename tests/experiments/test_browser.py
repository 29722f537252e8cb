"""The MLflow UI in a real browser: two runs of one pipeline compared side by side, and what
one run's page and the runs table say of its data and result.

Runs headless Chromium through the system's chromedriver (Debian's chromium and
chromium-driver); nothing is downloaded. Set SUITE_SCREENSHOT_DIR to keep the screenshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from suite.cli import main
from suite.experiments import ui
from suite.tracking import tracking_uri
from tests.tiny import tiny_run_args

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                  "--window-size=1600,1100"]
# A returning user's UI: the assistant panel, opened on a first visit, stays closed.
ASSISTANT_SEEN = ("try { localStorage.setItem("
                  "'mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true') } catch (e) {}")
PIPELINE = "image-classification"
LEARNING_RATES = ("0.001", "0.003")
PAGE_TIMEOUT = 180

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                       reason=f"needs {CHROMIUM} and {CHROMEDRIVER} "
                              "(Debian packages chromium and chromium-driver)"),
]


@pytest.fixture
def browser(tmp_path, monkeypatch):
    """Headless Chromium with a fresh profile, driven by the system chromedriver."""
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SE_AVOID_STATS", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                               {"source": ASSISTANT_SEEN})
        yield driver
    finally:
        driver.quit()


def _two_runs(workdir: Path) -> list:
    """Two tiny runs of PIPELINE that differ in their learning rate, oldest first."""
    for rate in LEARNING_RATES:
        args = [*tiny_run_args(PIPELINE, workdir), "--set", f"trainer.learning_rate={rate}"]
        assert main(["run", PIPELINE, *args]) == 0
    client = MlflowClient(tracking_uri())
    experiment = client.get_experiment_by_name(PIPELINE)
    return client.search_runs([experiment.experiment_id],
                              order_by=["attributes.start_time ASC"])


def _page_text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def _wait_for_text(driver, needles: list[str]) -> str:
    """The page's text once it contains every one of `needles`."""
    WebDriverWait(driver, PAGE_TIMEOUT).until(
        lambda d: all(needle in _page_text(d) for needle in needles),
        message=f"the page never showed all of {needles}")
    return _page_text(driver)


def _show_differing_params_only(driver) -> None:
    """Turns on the parameters table's 'Show diff only', as a person comparing runs does."""
    switch = driver.find_element(
        By.XPATH, "//*[normalize-space(text())='Parameters']/following::*[@role='switch'][1]")
    switch.click()
    WebDriverWait(driver, PAGE_TIMEOUT).until_not(
        lambda d: d.find_elements(By.XPATH, "//tr[th[normalize-space()='trainer.epochs']]"),
        message="'Show diff only' left the equal parameters in the table")


def _screenshot(driver, directory: Path) -> Path:
    """Saves the run details, parameters and metrics in view; copies to SUITE_SCREENSHOT_DIR."""
    details = driver.find_element(By.XPATH, "//*[normalize-space(text())='Run details']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", details)
    path = directory / "compare_runs.png"
    assert driver.save_screenshot(str(path)), "the browser took no screenshot"
    if os.environ.get("SUITE_SCREENSHOT_DIR"):
        keep = Path(os.environ["SUITE_SCREENSHOT_DIR"])
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, keep / path.name)
    return path


def test_two_runs_compared_side_by_side(workdir, browser):
    runs = _two_runs(workdir)
    assert [run.data.params["trainer.learning_rate"] for run in runs] == list(LEARNING_RATES)
    run_ids = [run.info.run_id for run in runs]
    test_metrics = sorted({key for run in runs for key in run.data.metrics
                           if key.startswith("test_")})
    assert "test_accuracy" in test_metrics

    with ui.start() as server:
        browser.get(server.compare_url(run_ids, [runs[0].info.experiment_id]))
        text = _wait_for_text(browser, [*run_ids, "trainer.learning_rate", *test_metrics])
        rate_row = browser.find_element(
            By.XPATH, "//tr[th[normalize-space()='trainer.learning_rate']]").text
        _show_differing_params_only(browser)
        screenshot = _screenshot(browser, workdir)

        newest = runs[1]
        description = newest.data.tags["mlflow.note.content"]
        (dataset,) = newest.inputs.dataset_inputs
        shown = f"{dataset.dataset.name} ({dataset.dataset.digest})"
        browser.get(f"{server.url}/#/experiments/{newest.info.experiment_id}/runs/"
                    f"{newest.info.run_id}?{ui.WORKFLOW_QUERY}")
        page = _wait_for_text(browser, ["Description", "Datasets", shown])
        browser.get(ui.experiment_page(server.url, newest.info.experiment_id))
        table = _wait_for_text(browser, ["Dataset", shown])

    for run in runs:
        assert run.info.run_name in text
    assert rate_row.split() == ["trainer.learning_rate", *LEARNING_RATES]
    assert screenshot.stat().st_size > 10_000
    # the run page leads with the one-line description: the model against the strongest
    # baseline, the data and the time; the runs table's Dataset column names the data
    assert description.startswith("test_accuracy ") and " · data: scikit-learn digits" in \
        description
    assert " ".join(description.split()) in " ".join(page.split())
    assert table.count(shown) == 2  # both runs read the same data
