-- wrk script for the router benchmark: POST one small chat request per call, and at the
-- end print one machine-readable line (prefix WRK_JSON) that bench/router/wrkstats.py parses.
-- Latencies are in microseconds, as wrk measures them.

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
-- LiteLLM refuses to start without a strong master key: run.py makes one per run.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "sk-bench")
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"Say hello in one word."}],"max_tokens":8}'

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"latency_min_us":%d,"latency_mean_us":%.1f,"latency_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
