-- wrk script of bench/api.py: one scenario (or a weighted mix of them) against the settings API.
--
-- Read from the environment:
--   BENCH_MIX     scenario weights, e.g. "get=1" or "get=40,list=15,create=10,evaluate=15"
--   BENCH_BASE    /client/v4/accounts/ACCOUNT/email-security
--   BENCH_TOKEN   a Write API token of that account
--   BENCH_IDS     a file of entry ids, one a line (get, edit)
--   BENCH_PATHS   a file of "name path" lines: the GET of each static scenario (list, filter, ...)
--   BENCH_BODY    a file holding the evaluate request's body
--   BENCH_EVALUATE_BASE, BENCH_EVALUATE_TOKEN   where evaluate goes, if not to BENCH_BASE
--   BENCH_RUN     a word unique to this run: created patterns never clash with earlier runs'
-- At the end, one line "BENCH-RESULT {json}" with the counts and latency percentiles.

local base = os.getenv("BENCH_BASE") or ""
local settings = base .. "/settings/allow_policies"
local auth = { ["Authorization"] = "Bearer " .. (os.getenv("BENCH_TOKEN") or "") }
local json = {
  ["Authorization"] = auth["Authorization"],
  ["Content-Type"] = "application/json",
}
local evaluate_path = (os.getenv("BENCH_EVALUATE_BASE") or base) .. "/evaluate"
local evaluate_headers = {
  ["Authorization"] = "Bearer " .. (os.getenv("BENCH_EVALUATE_TOKEN") or os.getenv("BENCH_TOKEN") or ""),
  ["Content-Type"] = "application/json",
}

local function lines(path)
  local found = {}
  if path == nil or path == "" then
    return found
  end
  for line in io.lines(path) do
    if line ~= "" then
      found[#found + 1] = line
    end
  end
  return found
end

local function slurp(path)
  if path == nil or path == "" then
    return ""
  end
  local file = assert(io.open(path, "rb"))
  local text = file:read("*a")
  file:close()
  return text
end

local all_threads = {}
function setup(thread)
  all_threads[#all_threads + 1] = thread
  thread:set("thread_number", #all_threads)
end

local ids, statics, evaluate_body, run, serial, deck

local makers = {
  get = function()
    return wrk.format("GET", settings .. "/" .. ids[math.random(#ids)], auth)
  end,
  create = function()
    serial = serial + 1
    local body = string.format(
      '{"pattern": "bench-%s-%d-%d.example", "pattern_type": "DOMAIN", "is_regex": false,'
        .. ' "is_trusted_sender": false, "is_acceptable_sender": true,'
        .. ' "is_exempt_recipient": false, "verify_sender": false, "comments": null}',
      run, thread_number or 0, serial)
    return wrk.format("POST", settings, json, body)
  end,
  edit = function()
    serial = serial + 1
    local body = string.format('{"comments": "edited %s-%d-%d"}', run, thread_number or 0, serial)
    return wrk.format("PATCH", settings .. "/" .. ids[math.random(#ids)], json, body)
  end,
  evaluate = function()
    return wrk.format("POST", evaluate_path, evaluate_headers, evaluate_body)
  end,
}

function init(args)
  math.randomseed((thread_number or 0) * 7919 + os.time())
  ids = lines(os.getenv("BENCH_IDS"))
  evaluate_body = slurp(os.getenv("BENCH_BODY"))
  run = os.getenv("BENCH_RUN") or "run"
  serial = 0
  statics = {}
  for _, line in ipairs(lines(os.getenv("BENCH_PATHS"))) do
    local name, path = line:match("^(%S+)%s+(%S+)$")
    statics[name] = wrk.format("GET", path, auth)
  end
  -- A deck of 100 draws in the mix's proportions, dealt in a random order.
  deck = {}
  for name, weight in (os.getenv("BENCH_MIX") or "get=1"):gmatch("([%w_]+)=(%d+)") do
    for _ = 1, tonumber(weight) do
      deck[#deck + 1] = name
    end
  end
  assert(#deck > 0, "BENCH_MIX names no scenario")
end

function request()
  local name = deck[math.random(#deck)]
  local static = statics[name]
  if static ~= nil then
    return static
  end
  return makers[name]()
end

-- Answers other than 2xx, by status, as "409=3 500=1": kept per thread in a string (what
-- done() can read back from a thread), rebuilt only when such an answer arrives.
local refused = {}
refused_text = ""
function response(status, headers, body)
  if status >= 300 then
    refused[status] = (refused[status] or 0) + 1
    local parts = {}
    for code, count in pairs(refused) do
      parts[#parts + 1] = code .. "=" .. count
    end
    refused_text = table.concat(parts, " ")
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  local statuses = {}
  for _, thread in ipairs(all_threads) do
    local text = thread:get("refused_text")
    if text ~= nil and text ~= "" then
      statuses[#statuses + 1] = text
    end
  end
  io.write(string.format(
    'BENCH-RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "connect": %d, "read": %d,'
      .. ' "write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d,'
      .. ' "p99_us": %d, "max_us": %d, "statuses": "%s"}\n',
    summary.requests, summary.duration, summary.bytes, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, latency:percentile(50),
    latency:percentile(90), latency:percentile(99), latency.max, table.concat(statuses, " ")))
end
