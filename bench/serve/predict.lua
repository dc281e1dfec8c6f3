-- wrk script: POST the JSON body in the file named by $SLUICE_BENCH_BODY to the URL, and print
-- one machine-readable line at the end (requests/s, latency percentiles in ms, failures).
-- wrk measures latency from sending a request to reading its answer (the delay is not included).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local body_file = os.getenv("SLUICE_BENCH_BODY")
local f = assert(io.open(body_file, "rb"), "cannot read " .. tostring(body_file))
wrk.body = f:read("*a")
f:close()

-- Paced runs: each connection waits this many milliseconds between its requests, so the offered
-- rate is about connections x 1000 / (delay + latency) instead of as fast as the server answers.
local delay_ms = tonumber(os.getenv("SLUICE_BENCH_DELAY_MS") or "")
if delay_ms then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f failed=%d non2xx=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, failed, e.status))
end
