-- Shared by orders.lua, lookup.lua and checkout.lua (loaded with dofile in every wrk thread and in the main state).
-- Environment: BENCH_MEMBERS (seeded members, phones 1380nnnnnnn), BENCH_TOKEN (bearer token).
-- done() prints one line "BENCH_RESULT {json}" that bench/orders-lookup parses; a script's own per-thread
-- `counters` (name -> number) are added to it as "counters" (summed over threads; names starting with
-- "max_" take the largest value instead).

members = tonumber(os.getenv("BENCH_MEMBERS") or "") or error("BENCH_MEMBERS is not set")
local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")

-- The member's phone as a till types it (normalised by the service to +861380nnnnnnn).
function member_phone(n)
    return string.format("1380%07d", n)
end

auth_headers = { ["Authorization"] = "Bearer " .. token }

local threads = {}

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

-- Per-thread state (globals in each thread's own Lua state).
non2xx = 0
statuses = {}
first_error = ""
counters = {}

function seed_random(tid)
    -- Distinct streams per thread and per run.
    math.randomseed(os.time() * 1000 + (tid or 0) * 7919 + math.floor((os.clock() * 1e6) % 1000))
    for _ = 1, 10 do math.random() end
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        local k = tostring(status)
        statuses[k] = (statuses[k] or 0) + 1
        if first_error == "" and body then first_error = string.sub(body, 1, 400) end
    end
end

local function json_string(s)
    s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
    return '"' .. s .. '"'
end

function done(summary, latency, requests)
    local bad, codes, err, sums = 0, {}, "", {}
    for _, t in ipairs(threads) do
        bad = bad + (t:get("non2xx") or 0)
        for k, v in pairs(t:get("statuses") or {}) do codes[k] = (codes[k] or 0) + v end
        local e = t:get("first_error") or ""
        if err == "" then err = e end
        for k, v in pairs(t:get("counters") or {}) do
            if string.sub(k, 1, 4) == "max_" then
                sums[k] = math.max(sums[k] or v, v)
            else
                sums[k] = (sums[k] or 0) + v
            end
        end
    end
    local parts = {}
    for k, v in pairs(codes) do table.insert(parts, string.format('"%s":%d', k, v)) end
    local extra = {}
    for k, v in pairs(sums) do table.insert(extra, string.format('"%s":%d', k, v)) end
    table.sort(extra)
    local counters_json = ""
    if #extra > 0 then counters_json = ',"counters":{' .. table.concat(extra, ",") .. '}' end
    local e = summary.errors
    io.write(string.format(
        'BENCH_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"latency_us":{"mean":%.1f,"stdev":%.1f,"min":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
        '"non2xx":%d,"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},' ..
        '"first_error":%s%s}\n',
        summary.requests, summary.duration, summary.bytes,
        latency.mean, latency.stdev, latency.min, latency:percentile(50), latency:percentile(90),
        latency:percentile(99), latency:percentile(99.9), latency.max,
        bad, table.concat(parts, ","), e.connect, e.read, e.write, e.timeout, json_string(err), counters_json))
end
