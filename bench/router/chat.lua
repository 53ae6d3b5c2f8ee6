-- wrk script for the router benchmark: POST one small chat request per call, time each
-- exchange with CLOCK_MONOTONIC, and at the end print one machine-readable line (prefix
-- WRK_JSON) that bench/router/wrkstats.py parses. Latencies are in microseconds.
--
-- Why not wrk's own latency histogram: on this machine it breaks Little's law (at one
-- connection its mean latency times the request rate came out at 3 to 10, where it can be
-- at most 1), while this clock agrees with it (0.98 to 1.0). Run wrk with one connection
-- per thread (-tN -cN): each thread's Lua state then times exactly one connection.

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } hybridroute_bench_timespec;
int clock_gettime(int clk_id, hybridroute_bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("hybridroute_bench_timespec")

local function now_us()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000000 + tonumber(ts.tv_nsec) / 1000
end

wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
-- LiteLLM refuses to start without a strong master key: run.py makes one per run.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "sk-bench")
wrk.body = '{"model":"bench-model","messages":[{"role":"user","content":"Say hello in one word."}],"max_tokens":8}'

-- per thread (one connection each): the request on the wire and its latency histogram
local encoded = nil
local started = 0
histogram = {}

function request()
  if encoded == nil then
    encoded = wrk.format()
  end
  started = now_us()
  return encoded
end

function response(status, headers, body)
  local us = math.floor(now_us() - started)
  histogram[us] = (histogram[us] or 0) + 1
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

local function merged()
  local counts, keys, n, sum = {}, {}, 0, 0
  for _, thread in ipairs(threads) do
    for us, count in pairs(thread:get("histogram")) do
      if counts[us] == nil then
        counts[us] = 0
        table.insert(keys, us)
      end
      counts[us] = counts[us] + count
      n = n + count
      sum = sum + us * count
    end
  end
  table.sort(keys)
  return counts, keys, n, sum
end

local function percentile(counts, keys, n, p)
  local rank = math.max(1, math.ceil(p / 100 * n))
  local seen = 0
  for _, us in ipairs(keys) do
    seen = seen + counts[us]
    if seen >= rank then
      return us
    end
  end
  return 0
end

function done(summary, latency, requests)
  local counts, keys, n, sum = merged()
  local e = summary.errors
  local function pct(p) return percentile(counts, keys, n, p) end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d,' ..
    '"latency_samples":%d,"latency_min_us":%d,"latency_mean_us":%.1f,"latency_max_us":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    n, keys[1] or 0, n > 0 and sum / n or 0, keys[#keys] or 0,
    pct(50), pct(90), pct(99), pct(99.9)))
end
