-- wrk: like chat.lua, and count streamed responses that reached [DONE] (printed as COMPLETED n).
wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = "Bearer " .. auth end

local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) completed = 0 end
function response(status, headers, body)
  if status == 200 and string.find(body, "[DONE]", 1, true) then completed = completed + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("completed") end
  io.write(string.format("COMPLETED %d\n", total))
end
