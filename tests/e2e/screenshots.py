"""``make screenshots``: the README's pictures of the Airflow UI, taken from a real stack.

Starts the SageMaker simulator and Airflow as ``make demo`` does, runs the example DAG with a
one-minute training job and photographs the UI in headless Chromium at each step a user goes
through: the deferred task, its live job log, its details with the two extra links, the
finished log, the finished task's links and its result. Chromium is the system's own browser,
started here as a child process and driven by Playwright over the DevTools protocol (no
browser download). Writes ``docs/ui/*.png`` and stops every process it started, Chromium
included. Not a test: pytest does not collect this module.
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, ViewportSize, sync_playwright

from tests.e2e.demo import DAG_ID, ROOT, TASK_ID, Demo, main
from tests.e2e.stack import AirflowStack, Process, StackError, wait_for

OUT = ROOT / "docs" / "ui"
#: Long enough to photograph the deferred task with a screenful of log lines.
JOB_SECONDS = 60
#: The live log is photographed once the job has printed this many epochs (one a second).
EPOCHS_SHOWN = 8
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}
WAIT_MS = 60_000
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


class Screenshots(Demo):
    """The example DAG's run, photographed step by step."""

    target = "screenshots"

    def run(self, keep: bool) -> int:
        sim = self.start_simulator(job_seconds=JOB_SECONDS)
        return self.with_stack(sim, self.photograph)

    def start_chromium(self) -> int:
        """Start Chromium with a fresh profile; return its DevTools port."""
        profile = self.folder / "chromium-profile"
        argv = [os.environ.get("CHROMIUM", "/usr/bin/chromium"), *CHROMIUM_ARGS]
        argv += [f"--user-data-dir={profile}", "about:blank"]
        process = Process("chromium", argv, dict(os.environ), self.folder / "chromium.log")
        self.processes.append(process)
        # Chromium writes the port it picked to this file once it listens.
        port = wait_for(
            lambda: devtools_port(profile / "DevToolsActivePort"),
            30,
            f"Chromium to listen (its output: {process.log_path})",
        )
        self.say(f"Chromium up (pid {process.pid})")
        return port

    def photograph(self, stack: AirflowStack) -> int:
        port = self.start_chromium()
        OUT.mkdir(parents=True, exist_ok=True)
        with browser_page(port) as page:
            ui = UI(page, stack, self.folder)
            ui.sign_in()
            run_id = stack.trigger(DAG_ID)
            self.say(f"triggered {DAG_ID}, run {run_id}")
            self.while_deferred(stack, ui, run_id)
            state = stack.wait_for_run(DAG_ID, run_id, timeout=JOB_SECONDS + 120)
            self.say(f"run {state}")
            if state != "success":
                raise StackError(f"the run ended {state}, not success")
            self.when_finished(ui, run_id)
        for path in sorted(OUT.glob("*.png")):
            self.say(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size // 1024} kB)")
        return 0

    def while_deferred(self, stack: AirflowStack, ui: UI, run_id: str) -> None:
        wait_for(
            lambda: stack.task_states(DAG_ID, run_id).get(TASK_ID) == "deferred",
            120,
            f"{TASK_ID} to be deferred",
        )
        self.say(f"{TASK_ID} deferred")
        # First, before the job trains: the page is opened once and not reloaded, so the
        # epoch lines in the picture came in through the UI's own refresh.
        ui.shot(
            "2-live-log",
            ui.task_path(run_id),
            ["Deferred", "Polling training job"],
            before=appears(f"epoch {EPOCHS_SHOWN} loss", JOB_SECONDS),
        )
        ui.shot("1-deferred-run", ui.run_path(run_id), ["Deferred", TASK_ID])
        ui.shot(
            "3-deferred-details",
            ui.task_path(run_id, "details"),
            ["Deferred", "Triggerer Info", "SageMaker training logs"],
        )
        if stack.task_states(DAG_ID, run_id).get(TASK_ID) != "deferred":
            raise StackError(f"{TASK_ID} was no longer deferred when photographed")

    def when_finished(self, ui: UI, run_id: str) -> None:
        ui.shot("4-finished-log", ui.task_path(run_id), ["Success", "Completed: model s3://"])
        ui.shot(
            "5-finished-links",
            ui.task_path(run_id, "details"),
            ["Success", "SageMaker training job", "SageMaker training logs"],
        )
        ui.shot(
            "6-result",
            ui.task_path(run_id, "xcom"),
            ["return_value", "_link_SageMakerTrainingLogsLink"],
            before=expand_json,
        )


def devtools_port(port_file: Path) -> int | None:
    """The port in Chromium's ``DevToolsActivePort`` file (port, then path), once written."""
    words = port_file.read_text().split() if port_file.exists() else []
    return int(words[0]) if words else None


@contextmanager
def browser_page(port: int) -> Iterator[Page]:
    """A page in a new browser context of the Chromium listening on ``port``."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.connect_over_cdp(f"http://127.0.0.1:{port}")
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def appears(text: str, seconds: float) -> Callable[[Page], None]:
    """Wait, without reloading the page, until ``text`` shows."""

    def wait(page: Page) -> None:
        if page.get_by_text(text).count():
            raise StackError(f"'{text}' was already there when the page opened")
        page.get_by_text(text).first.wait_for(state="visible", timeout=seconds * 1000)

    return wait


def expand_json(page: Page) -> None:
    """Unfold the result's JSON, then move the pointer off the button's tooltip."""
    page.locator(".monaco-editor").first.wait_for()
    page.get_by_role("button", name="Expand all extra JSON").click()
    page.get_by_text('"S3ModelArtifacts"').first.wait_for()
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)


class UI:
    """The Airflow UI as the admin user sees it.

    :param page: the browser page.
    :param stack: the Airflow stack whose UI this is.
    :param folder: where a failed step leaves a screenshot of what the page showed.
    """

    def __init__(self, page: Page, stack: AirflowStack, folder: Path) -> None:
        self.page = page
        self.stack = stack
        self.folder = folder

    def sign_in(self) -> None:
        """The simple auth manager's login form; it leaves a JWT cookie for the UI."""
        self.page.goto(f"{self.stack.url}/auth/login")
        self.page.get_by_label("Username").fill("admin")
        self.page.get_by_label("Password").fill(self.stack.password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(f"{self.stack.url}/")
        # Wrapped log lines, so status messages are readable without scrolling sideways.
        self.page.evaluate("localStorage.setItem('log_wrap', 'true')")

    @staticmethod
    def run_path(run_id: str) -> str:
        return f"/dags/{DAG_ID}/runs/{urllib.parse.quote(run_id, safe='')}"

    def task_path(self, run_id: str, tab: str = "") -> str:
        path = f"{self.run_path(run_id)}/tasks/{TASK_ID}"
        return f"{path}/{tab}" if tab else path

    def shot(
        self,
        name: str,
        path: str,
        texts: list[str],
        before: Callable[[Page], None] | None = None,
    ) -> None:
        """Open ``path``, wait until every one of ``texts`` shows, save ``docs/ui/<name>.png``."""
        try:
            self.page.goto(self.stack.url + path)
            for text in texts:
                self.page.get_by_text(text).first.wait_for(state="visible")
            # Data still loading shows as skeleton bars: wait for them to go.
            self.page.locator(".chakra-skeleton").first.wait_for(state="detached")
            if before:
                before(self.page)
            self.page.screenshot(path=OUT / f"{name}.png")
        except PlaywrightError as err:
            seen = self.folder / f"failed-{name}.png"
            with contextlib.suppress(PlaywrightError):
                self.page.screenshot(path=seen)
            raise StackError(f"screenshot {name}: {err} (the page as it was: {seen})") from None
        print(f"    {name}.png: {path}", flush=True)


if __name__ == "__main__":
    sys.exit(main(Screenshots(), keep=False))
