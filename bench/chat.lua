-- wrk: POST a chat completion. BENCH_BODY / BENCH_AUTH come from the environment.
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or '{"model":"mock","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end
