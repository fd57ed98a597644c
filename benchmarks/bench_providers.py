"""Throughput and client CPU of the provider layer against a 200 ms loopback server.

640 requests at concurrency 32 (an asyncio.Semaphore over one provider), so the
ideal wall time is 640 / 32 x 0.2 s = 4 s. Targets: wall <= 1.25 x ideal,
client CPU < 2 ms per request. The loopback server runs in its own process so
that only the client's CPU is counted.

For comparison it runs the same 640 requests through the official `openai`
SDK driven by a 32-thread pool, the way simple-evals runs HealthBench. That
part needs the SDK, a benchmark-only dependency:

    .venv/bin/pip install openai

Run: .venv/bin/python benchmarks/bench_providers.py [--requests 640] [--concurrency 32] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from healthqa.domain import Message, ModelConfig  # noqa: E402
from healthqa.providers import make_provider  # noqa: E402
from tests.core.provider_servers import API_KEY, answer_for  # noqa: E402

MODEL = "gpt-loopback"


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.core.provider_servers", "openai", "--latency", str(latency)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    base_url = proc.stdout.readline().strip()
    if not base_url.startswith("http"):
        proc.kill()
        raise SystemExit("the loopback server did not start")
    return proc, base_url


def questions(n: int) -> list[str]:
    return [f"Benchmark question {i}: is a resting heart rate of {50 + i % 50} normal?" for i in range(n)]


async def run_healthqa(base_url: str, qs: list[str], concurrency: int) -> tuple[float, float]:
    config = ModelConfig(name="bench", provider="openai", model=MODEL, base_url=base_url)
    provider = make_provider(config, API_KEY, max_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)

    async def one(q: str) -> str:
        async with gate:
            answer = await provider.complete([Message(role="user", content=q)])
            return answer.text

    cpu0, t0 = time.process_time(), time.perf_counter()
    texts = await asyncio.gather(*(one(q) for q in qs))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await provider.aclose()
    assert texts == [answer_for(q) for q in qs], "answers do not match their questions"
    return wall, cpu


def run_openai_sdk(base_url: str, qs: list[str], concurrency: int) -> tuple[float, float] | None:
    try:
        import openai
    except ImportError:
        return None
    client = openai.OpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    def one(q: str) -> str:
        response = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": q}])
        return response.choices[0].message.content

    cpu0, t0 = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        texts = list(pool.map(one, qs))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    client.close()
    assert texts == [answer_for(q) for q in qs], "answers do not match their questions"
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=640)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    n, c = args.requests, args.concurrency
    ideal = -(-n // c) * args.latency
    qs = questions(n)
    proc, base_url = start_server(args.latency)
    try:
        print(f"healthqa providers (httpx async): {n} requests, concurrency {c}, {args.latency * 1000:.0f} ms latency")
        for label in ("first run (cold)", "second run"):
            wall, cpu = asyncio.run(run_healthqa(base_url, qs, c))
            print(f"  {label}: wall {wall:.2f} s = {wall / ideal:.2f} x ideal {ideal:.1f} s (target <= 1.25 x)"
                  f" {'OK' if wall / ideal <= 1.25 else 'OVER TARGET'};"
                  f" client CPU {cpu * 1000 / n:.2f} ms per request (target < 2 ms)"
                  f" {'OK' if cpu * 1000 / n < 2 else 'OVER TARGET'}")
        sdk = run_openai_sdk(base_url, qs, c)
        if sdk is None:
            print("openai SDK not installed: `.venv/bin/pip install openai` to compare with it")
        else:
            sdk_wall, sdk_cpu = sdk
            print(f"openai SDK + {c}-thread pool (simple-evals style):")
            print(f"  wall {sdk_wall:.2f} s = {sdk_wall / ideal:.2f} x ideal;"
                  f" client CPU {sdk_cpu * 1000 / n:.2f} ms per request")
            print(f"  healthqa / SDK: wall {wall / sdk_wall:.2f}, CPU per request {cpu / sdk_cpu:.2f}")
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
