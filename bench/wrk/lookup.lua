-- wrk script: GET /v1/customers/lookup?phone= for a random seeded member (the till's lookup).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function init(args)
    seed_random(tid)
end

function request()
    return wrk.format("GET", "/v1/customers/lookup?phone=" .. member_phone(math.random(members)), auth_headers)
end
