-- wrk script: GET /v1/customers/lookup?phone= for a random seeded member (the till's lookup).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function init(args)
    seed_random(tid)
end

function request()
    return wrk.format("GET", "/v1/customers/lookup?phone=" .. member_phone(math.random(members)), auth_headers)
end

-- BENCH_LOOKUP_DELAY_MS: each connection waits this long before each request, so the till load is
-- a steady rate instead of as many lookups as the machine can serve (unset or 0: no wait).
local pause = tonumber(os.getenv("BENCH_LOOKUP_DELAY_MS") or "0")
if pause > 0 then
    function delay()
        return pause
    end
end
