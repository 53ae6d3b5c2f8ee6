-- wrk script for the router soak: a mix of plain and streamed chat requests (every
-- fifth one streams, with usage), an optional think time per connection (SOAK_DELAY_MS,
-- to hold a target rate), and a classification of every answer:
--   ok            200 with a complete answer (a stream ending in [DONE], no error event)
--   clear error   an OpenAI-style error: a 4xx/5xx with an "error" body, or a stream that
--                 ends with an SSE error event (the upstream broke it after it started)
--   unclear       anything else (e.g. a 5xx without an error body, a stream cut short
--                 without an error event): the soak requires none
-- At the end one SOAK_JSON line with the counts (merged over threads).

local plain = '{"model":"soak","messages":[{"role":"user","content":"Say hello."}]}'
local streamed = '{"model":"soak","messages":[{"role":"user","content":"Say hello."}],' ..
  '"stream":true,"stream_options":{"include_usage":true}}'
local think = tonumber(os.getenv("SOAK_DELAY_MS") or "0")

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

counter = 0
ok = 0
stream_ok = 0
stream_error = 0
unclear = 0
statuses = {}

function delay()
  return think
end

function request()
  counter = counter + 1
  local body = (counter % 5 == 0) and streamed or plain
  return wrk.format("POST", "/v1/chat/completions", {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local has_error = string.find(body, '"error"', 1, true) ~= nil
  local is_stream = string.sub(body, 1, 5) == "data:"
  if status == 200 and is_stream then
    if has_error then
      stream_error = stream_error + 1
    elseif string.find(body, "[DONE]", 1, true) then
      stream_ok = stream_ok + 1
    else
      unclear = unclear + 1
    end
  elseif status == 200 then
    if has_error then unclear = unclear + 1 else ok = ok + 1 end
  elseif not has_error then
    unclear = unclear + 1
  end
end

function done(summary, latency, requests)
  local t = {ok = 0, stream_ok = 0, stream_error = 0, unclear = 0}
  local merged = {}
  for _, thread in ipairs(threads) do
    for _, k in ipairs({"ok", "stream_ok", "stream_error", "unclear"}) do
      t[k] = t[k] + thread:get(k)
    end
    for status, n in pairs(thread:get("statuses")) do
      merged[status] = (merged[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(merged) do
    table.insert(parts, string.format('"%d":%d', status, n))
  end
  local e = summary.errors
  io.write(string.format(
    'SOAK_JSON {"requests":%d,"duration_us":%d,"errors_connect":%d,"errors_read":%d,' ..
    '"errors_write":%d,"errors_timeout":%d,"ok":%d,"stream_ok":%d,"stream_error":%d,' ..
    '"unclear":%d,"statuses":{%s},"latency_max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout,
    t.ok, t.stream_ok, t.stream_error, t.unclear, table.concat(parts, ","), latency.max))
end
