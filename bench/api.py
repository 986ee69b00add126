"""Benchmark of the benefits API against a bare FastAPI app, in one run.

    python bench/api.py [--duration 10] [--rounds 3] [--connections 50]

Starts a real redis-server and uvicorn processes on 127.0.0.1 (free ports), with
the uvicorn flags of the Dockerfile's CMD (1 worker, uvloop, httptools), and loads
them with wrk (Debian package `wrk`; a small asyncio load generator is used when
wrk is missing). Measures requests/s and p50/p99 latency of:

  * GET /                  the app vs a bare FastAPI app returning the same JSON
  * POST /v1/query cached  the app (answer already in Redis; the model is LangChain's
                           fake chat model) vs a bare FastAPI POST returning the same JSON

Servers are pinned to CPU 0 and the load generator to CPU 1 when taskset exists, so
each server gets one core, like (twice) the 0.5 vCPU Fargate task. Targets (ratios are
taken per round, app vs bare measured back to back, and the median round is reported):
GET / at least 90% of the bare app's rate; the cached POST /v1/query at least 60% of
the bare FastAPI POST's rate; cached query p99 under 10 ms at --rate req/s open loop.
(A p99 at 50 saturating connections measures the queue, not the app: it is printed, not
judged.)
Every loop is bounded by --duration; the servers are stopped at the end.

    python bench/api.py --profile 3000

profiles instead (pyinstrument, requirements-dev): the app in this process, driven
through ASGI one cached POST /v1/query at a time against a real redis-server, and
prints the time per request and the call tree (no HTTP server, no load generator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "¿Qué descuento hay en Carrefour los miércoles?"
ANSWER = (
    '{"respuesta": "Los miércoles tenés 25% de reintegro en Carrefour con tarjetas de crédito, '
    'con tope de $20.000 por mes.", "beneficios": ["carrefour-miercoles"]}'
)
CACHED_BODY = {
    "answer": json.loads(ANSWER)["respuesta"],
    "benefit_ids": ["carrefour-miercoles"],
    "cached": True,
    "resolved": True,
}


# ----------------------------------------------------------------- app factories (run inside uvicorn)


def bare_app() -> Any:
    """The baseline: plain FastAPI, same JSON, no middleware, no cache."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/query")
    async def query(body: dict[str, Any]) -> dict[str, Any]:
        return CACHED_BODY

    return app


def fake_model_app() -> Any:
    """The real app, with LangChain's fake chat model in place of Bedrock."""
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from app.main import create_app

    return create_app(model=FakeListChatModel(responses=[ANSWER]))


# ----------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dockerfile_cmd() -> list[str]:
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip().startswith("CMD ")]
    return json.loads(lines[-1][4:])


def server_command(factory: str, port: int) -> list[str]:
    """The Dockerfile's CMD with this factory and port, on loopback."""
    cmd = dockerfile_cmd()
    cmd[cmd.index("--factory") + 1] = factory
    cmd[cmd.index("--port") + 1] = str(port)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    return [sys.executable, "-m", *cmd]


def pinned(cmd: list[str], cpu: int) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else cmd


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.args}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def wait_redis(port: int, proc: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


# ----------------------------------------------------------------- load generators


def run_wrk(url: str, duration: float, connections: int, body: bytes | None, workdir: Path) -> dict[str, float]:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{max(1, int(duration))}s", "--latency", "--timeout", "5s"]
    if body is not None:
        script = workdir / "post.lua"
        lua_body = body.decode().replace("\\", "\\\\").replace('"', '\\"')
        script.write_text(
            'wrk.method = "POST"\n'
            f'wrk.body = "{lua_body}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        cmd += ["-s", str(script)]
    out = subprocess.run(pinned([*cmd, url], 1), capture_output=True, text=True, timeout=duration + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": _wrk_ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1)),
        "p99_ms": _wrk_ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1)),
        "errors": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def _wrk_ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


async def _py_load(
    host: str, port: int, request: bytes, duration: float, connections: int, rate: float = 0.0
) -> dict[str, float]:
    """Closed loop (rate 0: each connection sends as soon as it has its answer), or
    open loop at `rate` req/s over all connections, latency counted from each request's
    scheduled time (so a stall is not hidden by sending less)."""
    latencies: list[float] = []
    errors = 0
    began = time.perf_counter()
    stop_at = began + duration

    async def worker(index: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        interval = connections / rate if rate else 0.0
        scheduled = began + (index * interval / connections)
        try:
            while time.perf_counter() < stop_at:
                if rate:
                    delay = scheduled - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    start, scheduled = scheduled, scheduled + interval
                else:
                    start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if not head.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    qs = statistics.quantiles(latencies, n=100)
    return {"rps": len(latencies) / elapsed, "p50_ms": qs[49] * 1000, "p99_ms": qs[98] * 1000,
            "errors": float(errors), "socket_errors": 0.0}


def run_python(
    url: str, duration: float, connections: int, body: bytes | None, _: Path, rate: float = 0.0
) -> dict[str, float]:
    m = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    host, port, path = m.group(1), int(m.group(2)), m.group(3)
    if body is None:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    else:
        request = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
    return asyncio.run(_py_load(host, port, request, duration, connections, rate))


# ----------------------------------------------------------------- profile


def profile_cached_query(requests: int, env: dict[str, str]) -> None:
    """The cached query through the app's ASGI stack in this process, sequentially."""
    import logging

    import uvloop
    from pyinstrument import Profiler

    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    app = fake_model_app()
    for handler in logging.getLogger().handlers:  # the JSON lines are formatted and written, to nowhere
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    body = json.dumps({"question": QUESTION}).encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/query", "raw_path": b"/v1/query", "root_path": "", "query_string": b"",
        "headers": [(b"host", b"bench"), (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }

    async def one() -> bytes:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(dict(scope), receive, send)
        return sent[-1]["body"]

    async def run() -> None:
        await one()
        assert b'"cached":true' in await one()
        began = time.perf_counter()
        for _ in range(requests):
            await one()
        took = time.perf_counter() - began
        print(f"{requests} cached queries, one at a time: {took / requests * 1e6:.0f} us each (no profiler)")
        profiler = Profiler(interval=0.0001, async_mode="disabled")
        profiler.start()
        for _ in range(requests):
            await one()
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False))

    uvloop.run(run())


# ----------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--python-load", action="store_true", help="use the asyncio generator even if wrk exists")
    parser.add_argument("--rate", type=float, default=200.0,
                        help="offered req/s of the extra open-loop cached-query run (default 200)")
    parser.add_argument("--profile", type=int, metavar="N", default=0,
                        help="profile N cached queries in this process (pyinstrument) instead of benchmarking")
    args = parser.parse_args()

    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        print("redis-server is required (apt-get install redis-server)", file=sys.stderr)
        return 2
    load = run_python if args.python_load or not shutil.which("wrk") else run_wrk
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    procs: list[subprocess.Popen] = []
    try:
        redis_port = free_port()
        procs.append(subprocess.Popen(
            [redis_bin, "--bind", "127.0.0.1", "--port", str(redis_port), "--dir", str(tmp), "--save", "",
             "--appendonly", "no", "--requirepass", "bench"],
            stdout=subprocess.DEVNULL,
        ))
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_HOST": "127.0.0.1",
            "REDIS_PORT": str(redis_port),
            "REDIS_PASSWORD": "bench",
            "REDIS_SSL": "false",
            "CACHE_ENABLED": "true",
            "CACHE_TTL_DEFAULT": "3600",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        if args.profile:
            wait_redis(redis_port, procs[-1])
            profile_cached_query(args.profile, env)
            return 0
        ports = {"bare": free_port(), "app": free_port()}
        factories = {"bare": "bench.api:bare_app", "app": "bench.api:fake_model_app"}
        for name in ("bare", "app"):
            log = (tmp / f"{name}.log").open("wb")  # the app's JSON logs go to a file, as to CloudWatch
            procs.append(subprocess.Popen(pinned(server_command(factories[name], ports[name]), 0),
                                          cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
            wait_http(f"http://127.0.0.1:{ports[name]}/", procs[-1])

        app_url = f"http://127.0.0.1:{ports['app']}"
        first = post_json(f"{app_url}/v1/query", {"question": QUESTION})
        second = post_json(f"{app_url}/v1/query", {"question": QUESTION})
        assert first["cached"] is False and second["cached"] is True, (first, second)
        body = json.dumps({"question": QUESTION}).encode()

        cases = [
            ("GET /", "bare", "/", None),
            ("GET /", "app", "/", None),
            ("POST /v1/query (cached)", "bare", "/v1/query", body),
            ("POST /v1/query (cached)", "app", "/v1/query", body),
        ]
        for _, name, path, payload in cases:  # warm up
            load(f"http://127.0.0.1:{ports[name]}{path}", 1.0, args.connections, payload, tmp)
        results: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for label, name, path, payload in cases:
                url = f"http://127.0.0.1:{ports[name]}{path}"
                results.setdefault((label, name), []).append(load(url, args.duration, args.connections, payload, tmp))

        print(f"load generator: {'wrk' if load is run_wrk else 'python asyncio'}, {args.connections} connections, "
              f"{args.rounds} x {args.duration:g} s per case, median of rounds; servers: 1 uvicorn worker each")
        print(f"{'endpoint':<26}{'server':<6}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
        summary: dict[tuple[str, str], dict[str, float]] = {}
        for (label, name), runs in results.items():
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            summary[(label, name)] = med
            print(f"{label:<26}{name:<6}{med['rps']:>10.0f}{med['p50_ms']:>9.2f}{med['p99_ms']:>9.2f}"
                  f"{sum(r['errors'] for r in runs):>9.0f}")
        # Open loop: the cached query at a fixed offered rate over the same connections.
        for name in ("bare", "app"):
            url = f"http://127.0.0.1:{ports[name]}/v1/query"
            paced = run_python(url, args.duration, args.connections, body, tmp, rate=args.rate)
            label = f"query @{args.rate:g}/s open"
            print(f"{label:<26}{name:<6}{paced['rps']:>10.0f}{paced['p50_ms']:>9.2f}{paced['p99_ms']:>9.2f}"
                  f"{paced['errors']:>9.0f}")
            if name == "app":
                open_p99 = paced["p99_ms"]
        def median_ratio(label: str) -> float:
            app_runs, bare_runs = results[(label, "app")], results[(label, "bare")]
            return statistics.median(a["rps"] / b["rps"] for a, b in zip(app_runs, bare_runs, strict=True))

        get_ratio = median_ratio("GET /")
        query_ratio = median_ratio("POST /v1/query (cached)")
        errors = sum(r["errors"] + r["socket_errors"] for runs in results.values() for r in runs)
        ok_get, ok_query, ok_p99 = get_ratio >= 0.90, query_ratio >= 0.60, open_p99 < 10.0
        print(f"GET / rate vs bare app: {get_ratio:.1%} (target >= 90%): {'PASS' if ok_get else 'FAIL'}")
        print(f"cached POST /v1/query rate vs bare FastAPI POST: {query_ratio:.1%} (rounds: "
              + ", ".join(f"{a['rps'] / b['rps']:.0%}" for a, b in zip(results[("POST /v1/query (cached)", "app")],
                                                           results[("POST /v1/query (cached)", "bare")], strict=True))
              + f") (target >= 60%): {'PASS' if ok_query else 'FAIL'}")
        print(f"cached query p99 at {args.rate:g} req/s open loop: {open_p99:.2f} ms (target < 10 ms): "
              f"{'PASS' if ok_p99 else 'FAIL'}")
        if errors:
            print(f"errors during load: {errors:.0f}")
        return 0 if ok_get and ok_query and ok_p99 and not errors else 1
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
