-- wrk script: coupon checkout at the till. Each sale is POST /v1/checkout/quote and then POST /v1/orders for
-- the same basket, redeeming one seeded coupon (满100减10) and 100 points, with paid_amount = the quote's payable
-- (the order is refused with 422 amount_mismatch when quote and order disagree).
--
-- request() sends a queued order when this thread has one, else the quote of a new sale; response() turns
-- each successful quote into the order (customer_id, lines, the applied coupon, points, payable) and queues it.
-- Each sale uses a fresh coupon: coupon n = BENCH_COUPON_BASE + k * BENCH_THREADS + (tid - 1) for the
-- thread's k-th sale (k = 0, 1, ...), owned by member (n % BENCH_MEMBERS) + 1 (see bench/seed-coupons.sql).
-- When n reaches BENCH_COUPONS the pool is used up: the thread stops and "coupons_exhausted" is reported.
--
-- Environment (besides common.lua's): BENCH_STORE_ID, BENCH_COUPONS (seeded pool), BENCH_COUPON_BASE (the
-- first coupon number of this run: the warm-up's coupons are not used again), BENCH_THREADS (wrk -t),
-- BENCH_RESERVE=1 (quote with "reserve": true, the order consumes the reservation_id), BENCH_RUN_ID.
-- Counters in BENCH_RESULT: quotes / quotes_ok, orders / orders_ok (= sales), coupon_not_applied (the quote
-- did not apply the coupon; the order is sent anyway and fails visibly), unparsed_quotes, coupons_exhausted,
-- max_coupon_next (the first coupon number a later run may use).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
local common_response = response -- its non-2xx bookkeeping, called from this script's response()

local store_id = os.getenv("BENCH_STORE_ID") or error("BENCH_STORE_ID is not set")
local pool = tonumber(os.getenv("BENCH_COUPONS") or "") or error("BENCH_COUPONS is not set")
local base = tonumber(os.getenv("BENCH_COUPON_BASE") or "0")
local nthreads = tonumber(os.getenv("BENCH_THREADS") or "") or error("BENCH_THREADS is not set")
local reserve = os.getenv("BENCH_RESERVE") == "1"
local run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local points = 100
local headers = { ["Content-Type"] = "application/json" }
for k, v in pairs(auth_headers) do headers[k] = v end

local sales = 0 -- sales started by this thread (quotes sent)
local queue, head, tail = {}, 1, 0 -- orders waiting for a connection

local function count(name, by)
    counters[name] = (counters[name] or 0) + (by or 1)
end

function init(args)
    seed_random(tid)
    counters.max_coupon_next = base
end

-- Coupon number n as seeded: 'BNCH' .. n in base 8 on 8 digits, digit d written as the character d + 2.
local function coupon_code(n)
    local digits = {}
    for i = 7, 0, -1 do
        digits[#digits + 1] = string.char(50 + math.floor(n / 8 ^ i) % 8)
    end
    return "BNCH" .. table.concat(digits)
end

local function money(cents)
    return string.format("%d.%02d", math.floor(cents / 100), cents % 100)
end

local function line(sku, price)
    return string.format(
        '{"sku":"BENCH-%03d","name":"Bench item %d","category":"bench","quantity":1,"unit_price":"%s"}',
        sku, sku, price)
end

local function new_quote()
    local n = base + sales * nthreads + (tid - 1)
    if n >= pool then
        if (counters.coupons_exhausted or 0) == 0 then
            count("coupons_exhausted")
            io.stderr:write(string.format(
                "checkout.lua: thread %d: coupon pool used up (coupon %d of BENCH_COUPONS %d): stopping\n",
                tid, n, pool))
            wrk.thread:stop()
        end
        return wrk.format("GET", "/readyz")
    end
    sales = sales + 1
    counters.max_coupon_next = base + sales * nthreads
    count("quotes")
    local total = math.random(20000, 40000) -- CNY 200.00 - 400.00
    local lines
    if math.random() < 0.5 then
        lines = line(math.random(1, 500), money(total))
    else
        local first = math.random(5000, total - 5000)
        lines = line(math.random(1, 500), money(first)) .. "," .. line(math.random(1, 500), money(total - first))
    end
    local body = string.format(
        '{"customer_identity":{"kind":"phone","value":"%s"},"store_id":"%s","channel":"pos",' ..
        '"lines":[%s],"coupon_codes":["%s"],"points_to_redeem":%d,"reserve":%s}',
        member_phone((n % members) + 1), store_id, lines, coupon_code(n), points, reserve and "true" or "false")
    return wrk.format("POST", "/v1/checkout/quote", headers, body)
end

function request()
    if head <= tail then
        local body = queue[head]
        queue[head] = nil
        head = head + 1
        count("orders")
        return wrk.format("POST", "/v1/orders", headers, body)
    end
    return new_quote()
end

local function note(text)
    if first_error == "" then first_error = string.sub(text, 1, 400) end
end

-- The order for a quote (nil when the quote cannot be read).
local function order_from(quote)
    local customer = string.match(quote, '"customer_id":%s*"([%x%-]+)"')
    local payable = string.match(quote, '"payable":%s*"(%-?[%d%.]+)"')
    local total = string.match(quote, '"total_amount":%s*"([%d%.]+)"')
    local redeem = string.match(quote, '"points_to_redeem":%s*(%d+)')
    local lines_json = string.match(quote, '"lines":%s*%[(.-)%]')
    local coupons_json = string.match(quote, '"coupons":%s*%[(.-)%]')
    if not (customer and payable and total and redeem and lines_json and coupons_json) then return nil end
    local lines = {}
    for obj in string.gmatch(lines_json, "{(.-)}") do
        local sku = string.match(obj, '"sku":%s*"([^"]+)"')
        local amount = string.match(obj, '"amount":%s*"([%d%.]+)"')
        if not (sku and amount) then return nil end
        local k = string.match(sku, "^BENCH%-0*(%d+)$") or sku
        lines[#lines + 1] = string.format(
            '{"sku":"%s","name":"Bench item %s","category":"bench","quantity":1,"unit_price":"%s"}', sku, k, amount)
    end
    if #lines == 0 then return nil end
    local code, applied
    for obj in string.gmatch(coupons_json, "{(.-)}") do
        code = string.match(obj, '"code":%s*"([^"]+)"')
        applied = string.find(obj, '"applied":%s*true') ~= nil
        if not applied then
            count("coupon_not_applied")
            note("quote did not apply the coupon: {" .. obj .. "}")
        end
        break
    end
    if not code then return nil end
    local sale
    if reserve then
        local reservation = string.match(quote, '"reservation_id":%s*"([%x%-]+)"')
        if not reservation then return nil end
        sale = string.format('"reservation_id":"%s"', reservation)
    else
        sale = string.format('"coupon_codes":["%s"],"points_to_redeem":%s', code, redeem)
    end
    return string.format(
        '{"external_id":"till-%s-%s","channel":"pos","store_id":"%s","customer_id":"%s","occurred_at":"%s",' ..
        '"lines":[%s],"total_amount":"%s",%s,"paid_amount":"%s","pricing":"crm"}',
        run_id, code, store_id, customer, os.date("!%Y-%m-%dT%H:%M:%SZ"), table.concat(lines, ","), total, sale,
        payable)
end

function response(status, headers, body)
    if status >= 200 and status <= 299 and body then
        if string.find(body, '"max_points_redeemable"', 1, true) then
            count("quotes_ok")
            local order = order_from(body)
            if order then
                tail = tail + 1
                queue[tail] = order
            else
                count("unparsed_quotes")
                note("could not read the quote: " .. body)
            end
        elseif string.find(body, '"points_redeemed"', 1, true) then
            count("orders_ok")
        end
    end
    common_response(status, headers, body)
end
