"""The sdk_small scenario's client: an official provider SDK, timed direct and through tokenwatch.

Usage: python sdk_driver.py SDK DIRECT_BASE PROXIED_BASE PAIRS WARMUP
The proxied side's API key is PROXIED_KEY from the environment (a peer proxy's master key),
else `bench`.
SDK is `anthropic` (messages.create) or `openai` (chat.completions.create), non-streaming.
One client object per side, kept for every call (keep-alive, as users do); calls alternate
direct then proxied. WARMUP untimed pairs come first (lazy imports, the first connection).
Prints one JSON line: the microseconds of every timed call on each side, the number of calls
made through the proxy (warm-up included), the number that failed and the first failure.
"""

import json
import os
import sys
import time


def make_call(sdk, base, key="bench"):
    if sdk == "anthropic":
        import anthropic

        client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
        messages = [{"role": "user", "content": "xx"}]
        return lambda: client.messages.create(
            model="claude-sonnet-4-5", max_tokens=64, messages=messages
        )
    if sdk == "openai":
        import openai

        client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
        messages = [{"role": "user", "content": "xx"}]
        return lambda: client.chat.completions.create(
            model="gpt-4o-mini", max_tokens=64, messages=messages
        )
    raise SystemExit(f"unknown SDK {sdk!r}")


def main():
    sdk, direct_base, proxied_base = sys.argv[1:4]
    pairs, warmup = int(sys.argv[4]), int(sys.argv[5])
    proxied_key = os.environ.get("PROXIED_KEY", "bench")
    sides = {"direct": make_call(sdk, direct_base), "proxied": make_call(sdk, proxied_base, proxied_key)}
    out = {"sdk": sdk, "direct_us": [], "proxied_us": [], "proxied_calls": 0, "errors": 0, "first_error": None}
    for i in range(warmup + pairs):
        for side, call in sides.items():
            if side == "proxied":
                out["proxied_calls"] += 1
            started = time.perf_counter_ns()
            try:
                call()
            except Exception as e:  # noqa: BLE001 — every failure is counted, none stops the run
                out["errors"] += 1
                if out["first_error"] is None:
                    out["first_error"] = f"{side}: {type(e).__name__}: {e}"[:500]
                continue
            elapsed = time.perf_counter_ns() - started
            if i >= warmup:
                out[f"{side}_us"].append(elapsed / 1000.0)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
