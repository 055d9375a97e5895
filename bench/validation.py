"""Validation throughput: nhictl vs the honest bound, against the sandbox Slack in its own process.

Workload: N bindings over W workspaces (default 2,000 over 100), every token live; a quarter
hold ``users:read`` so they also cost a ``users.info`` call. The sandbox adds 80 ms to every
call and limits ``auth.test`` per workspace (120/min, burst 10). nhictl is told the limit
(120/min, burst 6). Reported next to nhictl's wall time:

* latency bound: calls x latency / concurrency;
* rate-limit bound: the slowest workspace's calls / its rate (bursts ignored);
* calibration floor: an httpx keep-alive client at the same concurrency, same calls, same
  latency, against a second sandbox process without limits (what this machine can do);
* a plain sequential slack_sdk loop, run on a sample and extrapolated (said so in the table).

Ratios are against the largest of the three bounds; medians of ``runs`` runs.
Run: ``.venv/bin/python bench/validation.py [--runs 3] [--bindings 2000]``.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from slack_sdk import WebClient
from tabulate import tabulate

from nhictl.secret import Secret
from nhictl.slack import SlackClient, ValidationItem

AUTH_TEST_PER_MIN, SERVER_BURST, CLIENT_BURST = 120, 10, 6


def build_scenario(bindings: int, workspaces: int, latency_ms: float) -> dict[str, Any]:
    teams, users, tokens = [], [], []
    for w in range(workspaces):
        teams.append({"id": f"T{w:04d}", "name": f"Workspace {w}", "domain": f"ws{w}"})
    for n in range(bindings):
        team = f"T{n % workspaces:04d}"
        uid = f"U{n:05d}"
        users.append({"id": uid, "team_id": team, "name": uid})
        scopes = ["chat:write", "users:read"] if n % 4 == 0 else ["chat:write"]
        token = "xoxp-benchfake" + secrets.token_hex(10)
        tokens.append({"token": token, "team_id": team, "user_id": uid, "scopes": scopes})
    return {
        "teams": teams,
        "users": users,
        "tokens": tokens,
        "latency_ms": latency_ms,
        "rate_limits": {"auth.test": {"per_minute": AUTH_TEST_PER_MIN, "burst": SERVER_BURST}},
    }


@contextmanager
def sandbox_process(scenario: dict[str, Any]) -> Iterator[str]:
    """The sandbox Slack in a separate Python process (no shared GIL); yields its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "nhictl.sandbox.slack_server", "--scenario", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(scenario))
        proc.stdin.close()
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError("sandbox did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_nhictl(url: str, items: list[ValidationItem], concurrency: int) -> dict[str, Any]:
    client = SlackClient(
        url, rate_limits={"auth.test": (AUTH_TEST_PER_MIN, CLIENT_BURST), "users.info": 100}
    )
    start = time.perf_counter()
    results = client.validate_many(items, concurrency=concurrency)
    wall = time.perf_counter() - start
    lost = sum(
        1
        for item in items
        if results.get(item.key, None) is None or results[item.key].outcome != "ok"
    )
    return {"wall": wall, "calls": client.stats.calls, "429": client.stats.http_429, "lost": lost}


def run_httpx(url: str, tokens: list[str], concurrency: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    calls = 0
    lost = 0
    with httpx.Client(base_url=url, limits=limits, timeout=30) as http:

        def one(token: str) -> tuple[int, bool]:
            auth = {"Authorization": f"Bearer {token}"}
            resp = http.post("auth.test", headers=auth)
            body = resp.json()
            if not body.get("ok"):
                return 1, False
            if "users:read" in resp.headers.get("x-oauth-scopes", "").split(","):
                info = http.post("users.info", headers=auth, data={"user": body["user_id"]})
                return 2, bool(info.json().get("ok"))
            return 1, True

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for n, ok in pool.map(one, tokens):
                calls += n
                lost += 0 if ok else 1
        wall = time.perf_counter() - start
    return {"wall": wall, "calls": calls, "429": 0, "lost": lost}


def run_sequential(url: str, tokens: list[str]) -> dict[str, Any]:
    web = WebClient(base_url=url)
    calls = 0
    start = time.perf_counter()
    for token in tokens:
        resp = web.auth_test(token=token)
        calls += 1
        if "users:read" in str(resp.headers.get("x-oauth-scopes", "")).split(","):
            web.users_info(token=token, user=resp["user_id"])
            calls += 1
    return {"wall": time.perf_counter() - start, "calls": calls, "429": 0, "lost": 0}


def run(
    report: Callable[[str], None] | None = print,
    *,
    runs: int = 3,
    bindings: int = 2000,
    workspaces: int = 100,
    latency_ms: float = 80.0,
    concurrency: int = 16,
    sequential_sample: int = 200,
) -> list[dict[str, Any]]:
    """Run the benchmark; return one row per client/bound (and print a table via ``report``)."""
    scenario = build_scenario(bindings, workspaces, latency_ms)
    unlimited = {**scenario, "rate_limits": {}}
    tokens = [t["token"] for t in scenario["tokens"]]
    items = [
        ValidationItem(f"b-{n:05d}", Secret(t["token"]), t["team_id"])
        for n, t in enumerate(scenario["tokens"])
    ]
    total_calls = bindings + sum(1 for t in scenario["tokens"] if "users:read" in t["scopes"])
    per_ws = -(-bindings // workspaces)
    latency_bound = total_calls * latency_ms / 1000.0 / concurrency
    rate_bound = per_ws / (AUTH_TEST_PER_MIN / 60.0)

    nhictl_runs, floor_runs = [], []
    for _ in range(runs):
        with sandbox_process(scenario) as url:
            nhictl_runs.append(run_nhictl(url, items, concurrency))
        with sandbox_process(unlimited) as url:
            floor_runs.append(run_httpx(url, tokens, concurrency))
    with sandbox_process(scenario) as url:
        sample = run_sequential(url, tokens[:sequential_sample])
    scale = total_calls / sample["calls"]

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    floor = median(floor_runs, "wall")
    bound = max(latency_bound, rate_bound, floor)
    rows: list[dict[str, Any]] = [
        {"what": "latency bound (calls x latency / concurrency)", "wall_s": latency_bound},
        {"what": "rate-limit bound (slowest workspace calls / rate)", "wall_s": rate_bound},
        {
            "what": f"calibration floor: httpx keep-alive x{concurrency} (median)",
            "wall_s": floor,
            "calls": floor_runs[0]["calls"],
            "429s": 0,
            "lost": max(r["lost"] for r in floor_runs),
        },
        {
            "what": f"nhictl validate_many x{concurrency} (median of {runs})",
            "wall_s": median(nhictl_runs, "wall"),
            "calls": median(nhictl_runs, "calls"),
            "429s": max(r["429"] for r in nhictl_runs),
            "lost": max(r["lost"] for r in nhictl_runs),
            "runs_s": " ".join(f"{r['wall']:.2f}" for r in nhictl_runs),
        },
        {
            "what": f"slack_sdk sequential loop ({sample['calls']} calls, extrapolated)",
            "wall_s": sample["wall"] * scale,
            "calls": total_calls,
            "429s": 0,
            "lost": 0,
        },
    ]
    for row in rows:
        row["vs_bound"] = row["wall_s"] / bound
    if report is not None:
        report(
            f"validation: {bindings} bindings, {workspaces} workspaces, {total_calls} calls, "
            f"{latency_ms:.0f} ms latency, auth.test {AUTH_TEST_PER_MIN}/min per workspace, "
            f"concurrency {concurrency}; bound = max of the first three = {bound:.2f} s"
        )
        report(
            tabulate(
                [
                    [
                        r["what"],
                        f"{r['wall_s']:.2f}",
                        f"{r['vs_bound']:.2f}x",
                        r.get("calls", ""),
                        r.get("429s", ""),
                        r.get("lost", ""),
                        r.get("runs_s", ""),
                    ]
                    for r in rows
                ],
                headers=["", "wall s", "vs bound", "calls", "429s", "lost", "runs"],
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bindings", type=int, default=2000)
    parser.add_argument("--workspaces", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-sample", type=int, default=200)
    ns = parser.parse_args()
    run(
        print,
        runs=ns.runs,
        bindings=ns.bindings,
        workspaces=ns.workspaces,
        latency_ms=ns.latency_ms,
        concurrency=ns.concurrency,
        sequential_sample=ns.sequential_sample,
    )


if __name__ == "__main__":
    main()
