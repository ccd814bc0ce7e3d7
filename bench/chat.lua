-- wrk: POST a chat completion. BENCH_BODY / BENCH_AUTH come from the environment.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"model":"mock","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
-- the tail wrk's --latency leaves out (µs), for the consumer-scale scenario's p99 under admin changes
function done(summary, latency, requests)
  io.write(string.format("TAIL %d %d\n", latency:percentile(99.9), latency.max))
end
