"""The viewer and play page in a real headless browser (Debian's chromium driven by selenium).

`make test` installs chromium and chromedriver with apt-get where they are missing and it runs as root.
Elsewhere this module is skipped with the command to install them, except under CI, where it fails.
With DEBTGPT_SCREENSHOTS=<folder> (`make screenshots`) the transcript and play screenshots land there.
"""

import base64
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from data_gen.make_data import make_data
from eval.run import evaluate_collectors
from pipeline.config import DataConfig, EvalConfig

pytestmark = pytest.mark.browser
REPO = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER):
    message = (
        "chromium and chromedriver are missing: `make browser` (root) "
        "or `sudo apt-get install chromium chromium-driver`"
    )
    if os.environ.get("CI"):  # CI installs them first (make test -> make browser); a skip there would hide the test
        raise RuntimeError(message)
    pytest.skip(message, allow_module_level=True)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

TYPED = "<b>Stop calling me</b> & goodbye"  # markup a person types must show as text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """`python -m viewer.serve` on a small eval run of firm and expert, as `make serve` starts it."""
    root = tmp_path_factory.mktemp("site")
    make_data(DataConfig(num_records=60, out_dir=str(root / "data")))
    evaluate_collectors(
        EvalConfig(
            collectors=["firm", "expert"], data_dir=str(root / "data"), max_scenarios=8, samples=1, progress=False
        ),
        root / "reports" / "bench",
    )
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "viewer.serve",
            f"reports_dir={root / 'reports'}",
            f"data_dir={root / 'data'}",
            f"port={port}",
            f"hydra.run.dir={root / 'outputs'}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(url, timeout=2)
            break
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"the server did not start:\n{server.stdout.read()}")
            time.sleep(0.3)
    yield url, root
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def screenshot(driver, name: str, tmp_path: Path) -> Path:
    """The whole page (up to 2400 px high) as a PNG in tmp_path, copied to $DEBTGPT_SCREENSHOTS when set."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 2400), "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path = tmp_path / f"{name}.png"
    path.write_bytes(base64.b64decode(shot["data"]))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    if folder := os.environ.get("DEBTGPT_SCREENSHOTS"):
        target = REPO / folder
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.name)
    return path


def left(page):
    """A wait condition: the old page's element is gone. Selenium's staleness_of knows only the stale-element
    error; chromium asked in the middle of a navigation can instead answer "Node with given id does not belong
    to the document", which means the same."""

    def gone(_driver) -> bool:
        try:
            page.is_enabled()
        except StaleElementReferenceException:
            return True
        except WebDriverException as exc:
            if "does not belong to the document" not in str(exc):
                raise
            return True
        return False

    return gone


def go(driver, element) -> None:
    """Click a link or a submit button and wait for the next page, so no lookup lands on the old one."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 60).until(left(page))


WINDOW_WIDTH = 1400  # the narrowest window every page must fit without scrolling sideways


def assert_fits_the_window(driver) -> None:
    """No horizontal scroll (the body's scroll width within the window's) and every table inside its card."""
    widths = driver.execute_script(
        "return [document.body.scrollWidth, document.documentElement.scrollWidth, window.innerWidth]"
    )
    assert widths[2] == WINDOW_WIDTH and max(widths[:2]) <= widths[2], (driver.current_url, widths)
    spilled = driver.execute_script("""
        return [...document.querySelectorAll('.card table')].filter(table => {
            const card = table.closest('.card').getBoundingClientRect(), box = table.getBoundingClientRect();
            return box.right > card.right + 0.5 || box.left < card.left - 0.5;
        }).map(table => table.className);""")
    assert spilled == [], (driver.current_url, spilled)


def texts(driver, css: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def test_a_report_its_plots_and_a_transcript(site, browser, tmp_path):
    url, _ = site
    browser.get(url)
    go(browser, browser.find_element(By.LINK_TEXT, "bench"))
    header = texts(browser, "#leaderboard-overall th")
    assert {"CRI ↑", "DHI ↑", "reward ↑"} <= set(header)
    assert sorted(row.split()[0] for row in texts(browser, "#leaderboard-overall tbody tr")) == ["expert", "firm"]
    images = browser.find_elements(By.CSS_SELECTOR, ".plots img")
    assert {"SR.png", "reward.png"} <= {i.get_attribute("alt") for i in images}
    browser.execute_script("arguments[0].scrollIntoView()", images[-1])
    assert all(
        browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", i) for i in images
    )

    Select(browser.find_element(By.NAME, "collector")).select_by_value("expert")
    go(browser, browser.find_element(By.ID, "apply-filters"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#dialogue-list tbody tr")
    assert len(rows) == 8 and all(r.find_elements(By.TAG_NAME, "td")[2].text == "expert" for r in rows)
    go(browser, rows[0].find_element(By.TAG_NAME, "a"))

    turns = browser.find_elements(By.CSS_SELECTOR, ".transcript .turn")
    assert turns[0].get_attribute("data-role") == "collector" and len(turns) >= 2
    assert browser.find_element(By.CSS_SELECTOR, ".outcome .outcome-label").text
    assert browser.find_element(By.CSS_SELECTOR, "#persona-card").text.lower().count("private") == 1
    thoughts = browser.find_element(By.CSS_SELECTOR, ".turn details.thoughts")
    assert thoughts.get_attribute("open") is None  # folded until asked for
    thoughts.find_element(By.TAG_NAME, "summary").click()
    assert thoughts.get_attribute("open") is not None
    screenshot(browser, "transcript", tmp_path)
    assert_fits_the_window(browser)

    go(browser, browser.find_element(By.CSS_SELECTOR, "#compare-form button"))
    columns = browser.find_elements(By.CSS_SELECTOR, ".side-by-side .column h2")
    assert [c.text for c in columns] == ["expert", "firm"]
    assert_fits_the_window(browser)  # the side-by-side page: the right-hand collector is not cut off
    right = browser.find_element(By.ID, "column-2").rect
    assert right["x"] + right["width"] <= WINDOW_WIDTH


def start_game(browser, url: str, collector: str, persona_index: int) -> str:
    browser.get(f"{url}/play")
    Select(browser.find_element(By.ID, "collector")).select_by_value(collector)
    persona = Select(browser.find_element(By.ID, "persona"))
    persona.select_by_index(persona_index)
    chosen = persona.first_selected_option.get_attribute("value")
    go(browser, browser.find_element(By.ID, "show-card"))
    assert chosen in browser.find_element(By.ID, "persona-card").text
    go(browser, browser.find_element(By.ID, "start"))
    assert browser.find_elements(By.CSS_SELECTOR, "#play-transcript .turn.collector")  # the collector spoke first
    return chosen


def take_turn(browser, button: str, words: str = "", strategy: str = "honest disclosure") -> None:
    box = browser.find_element(By.ID, "words")
    box.clear()
    box.send_keys(words)
    Select(browser.find_element(By.ID, "strategy")).select_by_value(strategy)
    go(browser, browser.find_element(By.ID, button))


def finished(browser) -> bool:
    return bool(browser.find_elements(By.ID, "saved"))


def test_play_to_a_deal_and_to_a_hang_up_then_find_both(site, browser, tmp_path):
    url, root = site
    deal_persona = start_game(browser, url, "expert", 0)
    take_turn(browser, "say", "I lost my job in spring and my pay is gone.")
    # Only grid values are on offer: every option of the four selects is a grid value.
    assert [o.text for o in Select(browser.find_element(By.ID, "inst_prds")).options] == [
        "3 months",
        "6 months",
        "9 months",
        "12 months",
        "18 months",
        "24 months",
    ]
    for field, value in (("disc_ratio", "0.0"), ("pmt_ratio", "0.25"), ("pmt_days", "7"), ("inst_prds", "6")):
        Select(browser.find_element(By.ID, field)).select_by_value(value)
    screenshot(browser, "play", tmp_path)
    take_turn(
        browser, "propose", "I can pay a quarter within a week and the rest over six months.", "repayment negotiation"
    )
    for _ in range(8):  # the collector may talk before it agrees; its offer can then be accepted
        if finished(browser):
            break
        if browser.find_elements(By.ID, "accept"):
            take_turn(browser, "accept", "All right, I accept.", "repayment negotiation")
        else:
            take_turn(browser, "say", "What would you offer me?")
    assert browser.find_element(By.CSS_SELECTOR, ".outcome .outcome-label").text == "DEAL"
    assert browser.find_elements(By.CSS_SELECTOR, "#agreement")
    assert browser.find_elements(By.CSS_SELECTOR, ".outcome table.parts")
    assert_fits_the_window(browser)  # the finished game: its reward table stays inside its card

    hangup_persona = start_game(browser, url, "firm", 1)
    take_turn(browser, "hangup", TYPED, "emotional confrontation")
    assert browser.find_element(By.CSS_SELECTOR, ".outcome .outcome-label").text == "HANGUP"
    assert texts(browser, "#play-transcript .turn.debtor .words") == [TYPED]  # the markup is text, not a bold element

    browser.get(url)
    assert_fits_the_window(browser)
    go(browser, browser.find_element(By.LINK_TEXT, "play"))
    assert_fits_the_window(browser)
    for outcome, collector, persona in (("deal", "expert", deal_persona), ("hangup", "firm", hangup_persona)):
        Select(browser.find_element(By.NAME, "outcome")).select_by_value(outcome)
        go(browser, browser.find_element(By.ID, "apply-filters"))
        [row] = browser.find_elements(By.CSS_SELECTOR, "#dialogue-list tbody tr")
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == persona and cells[2] == collector and cells[6] != "n/a"  # saved with its reward
    go(browser, browser.find_element(By.CSS_SELECTOR, "#dialogue-list tbody a"))  # the hang-up's full transcript
    assert browser.find_element(By.CSS_SELECTOR, ".outcome .outcome-label").text == "HANGUP"
    assert "human" in browser.find_element(By.TAG_NAME, "h1").text
    assert texts(browser, ".transcript .turn.debtor .words") == [TYPED]
    assert not browser.find_elements(By.CSS_SELECTOR, ".transcript .words b")
    assert {p.name for p in (root / "reports" / "play" / "trajectories").glob("*.jsonl")} == {
        "expert.jsonl",
        "firm.jsonl",
    }


def test_unknown_names_get_a_clear_page(site, browser):
    url, _ = site
    for path, words in (
        ("/runs/nope", "no report run named 'nope'"),
        ("/runs/bench/dialogues/haggler/R0000/0", "has no collector 'haggler'"),
        ("/play?persona=R9999", "no test persona 'R9999'"),
    ):
        browser.get(url + path)
        assert words in browser.find_element(By.ID, "error-message").text
        assert "Traceback" not in browser.page_source
