-- wrk script for the bench. With BENCH_RANDOM_PREFIX and BENCH_RANDOM_COUNT set, each request asks for
-- PREFIX .. random(1, COUNT) (the user lookup spread over many ids); otherwise the URL's path, with no per-request
-- Lua. With BENCH_CLIENT_HEADER set, each request carries that header numbered 1, 2, 3, ... At the end it prints one
-- machine-readable line; latencies in microseconds.
local prefix = os.getenv("BENCH_RANDOM_PREFIX")
local count = tonumber(os.getenv("BENCH_RANDOM_COUNT") or "")

local clientHeader = os.getenv("BENCH_CLIENT_HEADER")

if clientHeader then
  -- every request its own value of the header (a rate-limit key no two requests share)
  local n = 0
  request = function()
    n = n + 1
    return wrk.format(nil, nil, { [clientHeader] = tostring(n) })
  end
elseif prefix and count then
  init = function(args)
    math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  end
  request = function()
    return wrk.format(nil, prefix .. math.random(1, count))
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"p999Us":%d,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
