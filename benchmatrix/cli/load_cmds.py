"""``benchmatrix load``: run the load generator against any OpenAI-compatible server.

    benchmatrix load --url http://127.0.0.1:8080 --model m --concurrency 16 --num-requests 500
    benchmatrix load --url ... --model m --rate 20 --arrival gamma --burstiness 0.5
    benchmatrix load --url ... --model m --concurrency 1,4,16,64          # a sweep
    benchmatrix load --url ... --model m --rate 1 --search-max 64 --slo-ttft-ms 200

Prints a summary table (rich) and writes one Parquet record per request.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

if TYPE_CHECKING:
    from benchmatrix.loadgen import LoadResult, LoadRunConfig
    from benchmatrix.metrics import ScenarioSummary, Slo


def _floats(text: str | None) -> list[float]:
    return [float(x) for x in text.split(",")] if text else []


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{what} {item!r}: use KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


def _dist(text: str, option: str) -> Any:
    from benchmatrix.distributions import parse_distribution

    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _range(text: str, option: str) -> tuple[float, float]:
    lo, _, hi = text.partition(":")
    try:
        return float(lo), float(hi or lo)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: use N or MIN:MAX", param_hint=option) from None


def _media(images: str | None, image_px: str | None, audio_s: str | None) -> dict[str, Any]:
    """Image and audio options from their MIN:MAX command-line forms."""
    out: dict[str, Any] = {}
    img: dict[str, int] = {}
    if images:
        lo, hi = _range(images, "--images")
        img |= {"count_min": int(lo), "count_max": int(hi)}
    if image_px:
        lo, hi = _range(image_px, "--image-px")
        img |= {"width_min_px": int(lo), "width_max_px": int(hi),
                "height_min_px": int(lo), "height_max_px": int(hi)}
    if img:
        out["images"] = img
    if audio_s:
        lo, hi = _range(audio_s, "--audio-seconds")
        out["audio"] = {"duration_min_s": lo, "duration_max_s": hi}
    return out


def load(
    url: str = typer.Option(..., "--url", help="Server or balancer root, e.g. http://127.0.0.1:8080."),
    model: str = typer.Option(..., "--model", help="Served model name."),
    endpoint: str = typer.Option("chat", "--endpoint", help="chat, completions or audio."),
    modality: str = typer.Option("text", "--modality", help="text, vision or speech."),
    concurrency: Optional[str] = typer.Option(None, "--concurrency", "-c",
                                              help="Closed loop: in-flight requests; a,b,c sweeps."),
    rate: Optional[str] = typer.Option(None, "--rate", "-r", help="Open loop: requests/s; a,b,c sweeps."),
    arrival: str = typer.Option("poisson", "--arrival", help="constant, poisson or gamma."),
    burstiness: float = typer.Option(1.0, "--burstiness", help="Gamma shape (1 = Poisson)."),
    max_concurrency: Optional[int] = typer.Option(None, "--max-concurrency", help="Open-loop cap."),
    num_requests: int = typer.Option(200, "--num-requests", "-n", help="Requests incl. warmup."),
    duration_s: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds."),
    warmup: int = typer.Option(0, "--warmup", help="First N requests excluded from results."),
    ramp_up_s: Optional[float] = typer.Option(None, "--ramp-up", help="Linear ramp-up, seconds."),
    trace: Optional[Path] = typer.Option(None, "--trace", help="Replay a JSONL trace."),
    input_tokens: str = typer.Option("256", "--input-tokens", help="512 | uniform:128:512 | normal:M:S ..."),
    output_tokens: str = typer.Option("128", "--output-tokens", help="Same forms as --input-tokens."),
    ignore_eos: bool = typer.Option(False, "--ignore-eos", help="Generate exactly max_tokens."),
    temperature: float = typer.Option(0.0, "--temperature"),
    stop: list[str] = typer.Option([], "--stop", help="Stop sequence (repeatable)."),
    header: list[str] = typer.Option([], "--header", "-H", help="KEY=VALUE header (repeatable)."),
    extra_body: Optional[str] = typer.Option(None, "--extra-body", help="JSON merged into each body."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Env var holding the key."),
    timeout_s: float = typer.Option(600.0, "--timeout", help="Per-request timeout, seconds."),
    seed: int = typer.Option(0, "--seed"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Processes (default: from load)."),
    tokenizer: str = typer.Option("words", "--tokenizer", help="words | server | HF tokenizer dir."),
    prompt_source: str = typer.Option("synthetic", "--prompts", help="synthetic | JSONL/ShareGPT path."),
    shared_prefix_ratio: float = typer.Option(0.0, "--shared-prefix-ratio"),
    images: Optional[str] = typer.Option(None, "--images", help="Vision: images per request, N or MIN:MAX."),
    image_px: Optional[str] = typer.Option(None, "--image-px", help="Vision: image side in pixels, MIN:MAX."),
    audio_s: Optional[str] = typer.Option(None, "--audio-seconds", help="Speech: clip length, MIN:MAX."),
    output: Path = typer.Option(Path("requests.parquet"), "--output", "-o", help="Parquet records."),
    calibrate: list[str] = typer.Option([], "--calibrate", help="Sim replica URL for ground truth."),
    slo_ttft_ms: Optional[float] = typer.Option(None, "--slo-ttft-ms"),
    slo_tpot_ms: Optional[float] = typer.Option(None, "--slo-tpot-ms"),
    slo_e2e_ms: Optional[float] = typer.Option(None, "--slo-e2e-ms"),
    search_max: Optional[float] = typer.Option(
        None, "--search-max", help="Search the highest load (from the given one up to this) meeting the SLO."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Send load to an OpenAI-compatible server and print TTFT/TPOT/ITL/E2E and throughput.

    Metric definitions: docs/metrics.md. Records go to a Parquet file, one row per request.

    Examples:

      benchmatrix load --url http://127.0.0.1:8000 --model m -c 16 -n 500 --input-tokens uniform:128:512 --output-tokens 256 --ignore-eos

      benchmatrix load --url http://127.0.0.1:8000 --model m --rate 2,4,8 -n 300     # open-loop sweep

      benchmatrix load --url http://127.0.0.1:8000 --model m -c 1 --search-max 64 --slo-ttft-ms 500   # highest load meeting the SLO

      benchmatrix load --url http://127.0.0.1:8000 --model m --modality vision --images 1:2 --image-px 336:672 -c 8
    """
    from benchmatrix.loadgen import LoadRunConfig
    from benchmatrix.metrics import Slo

    loads_c, loads_r = [int(x) for x in _floats(concurrency)], _floats(rate)
    if bool(loads_c) + bool(loads_r) + bool(trace) != 1:
        raise typer.BadParameter("give exactly one of --concurrency, --rate or --trace")
    base = dict(
        base_url=url, model=model, endpoint=endpoint, modality=modality,
        input_tokens=_dist(input_tokens, "--input-tokens"),
        output_tokens=_dist(output_tokens, "--output-tokens"),
        concurrency=loads_c[0] if loads_c else None, rate_rps=loads_r[0] if loads_r else None,
        trace_path=trace, arrival=arrival, burstiness=burstiness, max_concurrency=max_concurrency,
        num_requests=num_requests, duration_s=duration_s, warmup_requests=warmup,
        ramp_up={"duration_s": ramp_up_s} if ramp_up_s else None, ignore_eos=ignore_eos,
        temperature=temperature, stop=stop or None, headers=_pairs(header, "--header"),
        extra_body=json.loads(extra_body) if extra_body else {}, api_key_env=api_key_env,
        timeout_s=timeout_s, seed=seed, workers=workers, tokenizer=tokenizer,
        prompt_source=prompt_source, shared_prefix_ratio=shared_prefix_ratio, output_path=output,
        calibrate_urls=calibrate or None, **_media(images, image_px, audio_s))
    if endpoint == "audio" and modality == "text":
        base["modality"] = "speech"
    cfg = LoadRunConfig.model_validate(base)
    slo = Slo(ttft_ms=slo_ttft_ms, tpot_ms=slo_tpot_ms, e2e_ms=slo_e2e_ms) \
        if (slo_ttft_ms or slo_tpot_ms or slo_e2e_ms) else None
    knob = "concurrency" if loads_c else "rate_rps"
    loads = loads_c or loads_r
    if search_max is not None:
        _search(cfg, slo, knob, loads[0], search_max, as_json)
    elif len(loads) > 1:
        _sweep(cfg, slo, knob, loads, as_json)
    else:
        _single(cfg, slo, as_json)


def _single(cfg: "LoadRunConfig", slo: "Slo | None", as_json: bool) -> None:
    import pandas as pd

    from benchmatrix.loadgen import run_load
    from benchmatrix.metrics import summarize

    result = _with_progress(cfg, run_load)
    summary = summarize(pd.read_parquet(result.records_path), slo)
    if as_json:
        typer.echo(json.dumps({"result": result.model_dump(mode="json"),
                               "summary": summary.model_dump(mode="json")}, indent=2))
        return
    _print_summary(cfg, result, summary)


def _with_progress(cfg: "LoadRunConfig", run: Any) -> "LoadResult":
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task("requests", total=cfg.num_requests)
        return run(cfg, lambda done, total: bar.update(task, completed=done, total=total))


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _print_summary(cfg: "LoadRunConfig", result: "LoadResult", s: "ScenarioSummary") -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    load = f"concurrency {cfg.concurrency}" if cfg.concurrency else (
        f"rate {cfg.rate_rps} req/s ({cfg.arrival})" if cfg.rate_rps else f"trace {cfg.trace_path}")
    head = Table(title=f"{cfg.model} @ {cfg.base_url} - {load}", show_header=False)
    for label, value in (
        ("requests ok / errors / warmup", f"{s.num_ok} / {s.num_errors} / {s.num_warmup}"),
        ("errors by kind", ", ".join(f"{k}={v}" for k, v in s.errors_by_kind.items()) or "-"),
        ("duration (s)", _fmt(s.duration_s, 2)),
        ("requests/s", _fmt(s.request_throughput_rps, 2)),
        ("output tokens/s", _fmt(s.output_token_throughput_tps)),
        ("total tokens/s", _fmt(s.total_token_throughput_tps)),
        ("goodput req/s (ratio)", "-" if s.goodput_rps is None
         else f"{s.goodput_rps:.2f} ({(s.goodput_ratio or 0):.0%})"),
        ("client CPU s / lag p99 ms", f"{result.client_cpu_s:.2f} / {_fmt(result.dispatch_lag_p99_ms, 2)}"
         + (f"  [red]client-bound: {result.client_bound_reason}[/red]" if result.is_client_bound else "")),
        ("records", str(result.records_path)),
    ):
        head.add_row(label, value)
    console.print(head)
    lat = Table(title="latency (ms), ok requests")
    for col in ("metric", "mean", "p50", "p90", "p99"):
        lat.add_column(col, justify="right" if col != "metric" else "left")
    for name in ("ttft_ms", "tpot_ms", "itl_event_ms", "itl_token_ms", "e2e_ms"):
        lat.add_row(name, *(_fmt(getattr(s, f"{name}_{k}"), 2) for k in ("mean", "p50", "p90", "p99")))
    console.print(lat)
    if result.overhead_ttft_p50_ms is not None:
        console.print(f"generator TTFT overhead vs server: p50 {result.overhead_ttft_p50_ms:.2f} ms, "
                      f"p99 {result.overhead_ttft_p99_ms:.2f} ms ({result.calibrated_requests} joined)")


def _points_table(title: str, knob: str, probes: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for col in (knob, "ok", "err", "req/s", "out tok/s", "ttft p50", "ttft p99", "tpot p50",
                "itl p99", "goodput", "pass"):
        table.add_column(col, justify="right")
    for p in probes:
        s = p.summary
        table.add_row(f"{p.load:g}", str(s.num_ok), str(s.num_errors), _fmt(s.request_throughput_rps, 2),
                      _fmt(s.output_token_throughput_tps), _fmt(s.ttft_ms_p50, 2), _fmt(s.ttft_ms_p99, 2),
                      _fmt(s.tpot_ms_p50, 2), _fmt(s.itl_event_ms_p99, 2),
                      "-" if s.goodput_ratio is None else f"{s.goodput_ratio:.0%}", "yes" if p.passed else "no")
    Console().print(table)


def _sweep(cfg: "LoadRunConfig", slo: "Slo | None", knob: str, loads: list[float], as_json: bool) -> None:
    from benchmatrix.loadgen.search import sweep

    probes = sweep(cfg, knob, loads, slo)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps([{"load": p.load, "summary": p.summary.model_dump(mode="json")}
                               for p in probes], indent=2))
        return
    _points_table(f"sweep over {knob}", knob, probes)


def _search(cfg: "LoadRunConfig", slo: "Slo | None", knob: str, lo: float, hi: float, as_json: bool) -> None:
    from benchmatrix.loadgen.search import search_max_goodput

    if slo is None:
        raise typer.BadParameter("--search-max needs at least one --slo-* threshold")
    probes = search_max_goodput(cfg, slo, knob, lo, hi)  # type: ignore[arg-type]
    best = max((p for p in probes if p.passed), key=lambda p: p.load, default=None)
    if as_json:
        typer.echo(json.dumps({"best_load": best.load if best else None,
                               "probes": [{"load": p.load, "passed": p.passed,
                                           "summary": p.summary.model_dump(mode="json")} for p in probes]},
                              indent=2))
        return
    _points_table(f"SLO search over {knob}", knob, probes)
    typer.echo(f"highest {knob} meeting the SLO: {best.load:g}" if best else "no load met the SLO")


def register(app: typer.Typer) -> None:
    """Add the ``load`` command."""
    app.command("load")(load)
