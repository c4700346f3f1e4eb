-- wrk script: POST /v1/orders for a random seeded member (by phone identity), each request a new sale.
-- Environment (besides common.lua's): BENCH_STORE_ID, BENCH_REDEEM_PCT (share of orders redeeming
-- 100 points = CNY 10, default 30), BENCH_RUN_ID (makes external_ids unique across phases and runs).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local store_id = os.getenv("BENCH_STORE_ID") or error("BENCH_STORE_ID is not set")
local redeem_pct = tonumber(os.getenv("BENCH_REDEEM_PCT") or "30")
local run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local headers = { ["Content-Type"] = "application/json" }
for k, v in pairs(auth_headers) do headers[k] = v end
local counter = 0

function init(args)
    seed_random(tid)
end

local function money(cents)
    return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

local function line(sku, cents)
    return string.format(
        '{"sku":"BENCH-%03d","name":"Bench item %d","category":"bench","quantity":1,"unit_price":"%s"}',
        sku, sku, money(cents))
end

function request()
    counter = counter + 1
    local total = math.random(20000, 40000) -- CNY 200.00 - 400.00
    local lines
    if math.random() < 0.5 then
        lines = line(math.random(1, 500), total)
    else
        local first = math.random(5000, total - 5000)
        lines = line(math.random(1, 500), first) .. "," .. line(math.random(1, 500), total - first)
    end
    local redeem = (math.random(100) <= redeem_pct) and 100 or 0
    local body = string.format(
        '{"external_id":"bench-%s-%d-%d","channel":"pos","store_id":"%s",' ..
        '"customer_identity":{"kind":"phone","value":"%s"},"occurred_at":"%s",' ..
        '"lines":[%s],"total_amount":"%s","points_to_redeem":%d,"pricing":"crm"}',
        run_id, tid, counter, store_id, member_phone(math.random(members)),
        os.date("!%Y-%m-%dT%H:%M:%SZ"), lines, money(total), redeem)
    return wrk.format("POST", "/v1/orders", headers, body)
end
