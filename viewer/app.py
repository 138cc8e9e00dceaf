"""The DebtBench viewer and the play-the-debtor page, as one FastAPI app.

    python -m viewer.serve                      # or: make serve; then open http://127.0.0.1:8000

Pages: the report runs; a run's leaderboard, plots and its dialogues (filtered by collector, archetype and
outcome); one dialogue as a chat transcript; two collectors side by side on the same persona and sample;
and play, where a person is the debtor. Every template is autoescaped, so text a person types is shown
as text. Bad input gets a page that says what is wrong; a traceback only ever goes to the server log.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Optional

import jinja2
from fastapi import FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from debtgpt.agreement import RATIO_FIELDS
from debtgpt.constants import AGREEMENT_GRID, ARCHETYPES, DEBTOR_STRATEGIES, METRIC_DIRECTIONS
from debtgpt.leaderboard import arrow, comparison_sentence, fmt, leaderboard_tables
from debtgpt.metrics import turn_compliance
from debtgpt.records import PUBLIC_RECORD_FIELDS
from viewer.play import PlayTable
from viewer.reports import OUTCOMES, BadRequest, Filters, NotFound, ReportStore

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
PAGE_SIZE = 100
# The reward's sums first (reward = recovery + rationality + experience - penalty), then what they are made of.
REWARD_SUMS = ("recovery", "rationality", "experience", "penalty")


def percent(value) -> str:
    return "n/a" if value is None else f"{round(value * 100)} %"


def term(value, field: str) -> str:
    """One agreement field as a person reads it (a filter: `value | term("pmt_days")`)."""
    if field in RATIO_FIELDS:
        return percent(value)
    return f"{value} days" if field == "pmt_days" else f"{value} months"


def reward_parts(parts: dict) -> list[tuple[str, object]]:
    return [(k, parts[k]) for k in REWARD_SUMS if k in parts] + sorted(
        (k, v) for k, v in parts.items() if k not in REWARD_SUMS
    )


def templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True, undefined=jinja2.StrictUndefined
    )
    env.filters.update(
        fmt=fmt, percent=percent, term=term, arrow=arrow, reward_parts=reward_parts, turn_compliance=turn_compliance
    )
    env.globals.update(
        grid=AGREEMENT_GRID,
        archetypes=ARCHETYPES,
        outcomes=OUTCOMES,
        public_fields=PUBLIC_RECORD_FIELDS,
        debtor_strategies=DEBTOR_STRATEGIES,
        directions=METRIC_DIRECTIONS,
    )
    return Jinja2Templates(env=env)


def create_app(reports_dir: str | Path, play: PlayTable | None) -> FastAPI:
    """`play` None: a viewer only (no persona data to play with)."""
    store = ReportStore(reports_dir)
    pages = templates()

    @asynccontextmanager
    async def lifespan(_app):
        yield
        if play is not None:
            play.close()

    app = FastAPI(title="DebtBench viewer", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
        return pages.TemplateResponse(
            request, name, {"play_enabled": play is not None, **context}, status_code=status_code
        )

    def error_page(request: Request, status: int, message: str) -> HTMLResponse:
        return page(request, "error.html", status, status=status, message=message)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, error: NotFound):
        return error_page(request, 404, str(error))

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, error: BadRequest):
        return error_page(request, 400, str(error))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in error.errors())
        return error_page(request, 400, f"bad request: {problems}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        message = "no such page" if error.status_code == 404 else str(error.detail)
        return error_page(request, error.status_code, message)

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception):
        log.exception("error serving %s", request.url.path)
        return error_page(request, 500, "something went wrong on the server; the server's log has the details")

    @app.get("/", response_class=HTMLResponse)
    def runs(request: Request):
        return page(request, "runs.html", runs=store.runs(), reports_dir=str(store.root))

    @app.get("/runs/{run}", response_class=HTMLResponse)
    def run_page(
        request: Request,
        run: str,
        collector: str = "",
        archetype: str = "",
        outcome: str = "",
        page_number: int = Query(1, alias="page", ge=1),
    ):
        metrics = store.metrics(run)
        filters = Filters(collector, archetype, outcome)
        listing = store.listing(run, filters)
        pages_total = max(1, -(-len(listing) // PAGE_SIZE))
        comparisons = [
            comparison_sentence(*spec.split(":"), result) for spec, result in metrics.get("comparisons", {}).items()
        ]
        return page(
            request,
            "run.html",
            run=run,
            config=metrics.get("config", {}),
            tables=leaderboard_tables(metrics),
            comparisons=comparisons,
            plots=store.plots(run),
            collectors=list(store.trajectories(run)),
            filters=filters,
            shown=listing[(page_number - 1) * PAGE_SIZE : page_number * PAGE_SIZE],
            total=len(listing),
            page_number=page_number,
            pages_total=pages_total,
        )

    @app.get("/runs/{run}/plots/{name}")
    def plot(run: str, name: str):
        return FileResponse(store.plot_path(run, name), media_type="image/png")

    @app.get("/runs/{run}/dialogues/{collector}/{scenario}/{sample}", response_class=HTMLResponse)
    def dialogue(request: Request, run: str, collector: str, scenario: str, sample: int):
        trajectory = store.dialogue(run, collector, scenario, sample)
        return page(request, "dialogue.html", run=run, t=trajectory, partners=store.partners(run, trajectory))

    @app.get("/runs/{run}/compare", response_class=HTMLResponse)
    def compare(request: Request, run: str, scenario: str, sample: int, a: str, b: str):
        if a == b:
            raise BadRequest(f"compare two different collectors; got a={a!r} and b={b!r}")
        left, right = store.dialogue(run, a, scenario, sample), store.dialogue(run, b, scenario, sample)
        return page(request, "compare.html", run=run, left=left, right=right)

    @app.get("/play", response_class=HTMLResponse)
    def play_new(request: Request, persona: str = "", collector: str = ""):
        table = need_play()
        chosen = table.scenario(persona) if persona else None
        return page(
            request,
            "play_new.html",
            collectors=table.collector_names(),
            scenarios=list(table.scenarios.values()),
            chosen=chosen,
            collector=collector,
            max_turns=table.max_turns,
            play_run=table.run_dir.name,
        )

    @app.post("/play")
    def play_start(collector: str = Form(...), persona: str = Form(...)):
        game = need_play().start(collector, persona)
        return RedirectResponse(f"/play/{game.id}", status_code=303)

    @app.get("/play/{game_id}", response_class=HTMLResponse)
    def play_game(request: Request, game_id: str):
        table = need_play()
        game = table.game(game_id)
        return page(
            request,
            "play.html",
            game=game,
            t=game.trajectory,
            view=game.debtor_view,
            offer=game.debtor_view.standing_proposal("collector"),
            max_turns=table.max_turns,
            play_run=table.run_dir.name,
        )

    @app.post("/play/{game_id}/turn")
    def play_turn(
        game_id: str,
        action: str = Form(...),
        strategy: str = Form(...),
        dialogue: str = Form(""),
        disc_ratio: Optional[str] = Form(None),
        pmt_ratio: Optional[str] = Form(None),
        pmt_days: Optional[str] = Form(None),
        inst_prds: Optional[str] = Form(None),
    ):
        terms = {"disc_ratio": disc_ratio, "pmt_ratio": pmt_ratio, "pmt_days": pmt_days, "inst_prds": inst_prds}
        need_play().debtor_turn(game_id, action, strategy, dialogue, terms)
        return RedirectResponse(f"/play/{game_id}", status_code=303)

    def need_play() -> PlayTable:
        if play is None:
            raise NotFound("play is off: the server found no persona data; run `make data`, then restart it")
        return play

    return app
