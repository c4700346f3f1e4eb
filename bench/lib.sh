# Shared by bench/segments-campaigns and bench/analytics (sourced, not run): the release binary on a
# fresh embedded PostgreSQL under /tmp, a history seeded with COPY, and the API clients.
#
# Before sourcing, set bench_name (the log prefix) and pool_size (CRM_POOL_SIZE) and tz (CRM_TIMEZONE).
# Functions:
#   require_tools [wrk]  psql, curl, python3 (and wrk, installed with apt-get when missing)
#   build_service        cargo build --release unless BENCH_SKIP_BUILD=1
#   prepare_workspace    the data and work directory (removed on exit), a free port, fresh secrets
#   start_service        a fresh service on a free loopback port; sets base, db_url, pg_dir, postmaster_pid
#   stop_service
#   seed_history         customers, identities, orders and lines by COPY (bench/seed-segments.sql), then
#                        memberships and the audience tag (bench/seed-segments-finish.sql), every derived
#                        table by `retail-crm rebuild-reports`, the secondary indexes, held coupons,
#                        VACUUM ANALYZE and a CHECKPOINT; reads customers, orders, line_pct,
#                        second_line_pct, audience, stores; sets phones, seed_seconds, seed_json, counts_json
#   make_tokens          admin_token, and till_token for a till client (customers:read orders:write)
#   api METHOD PATH [BODY]  an admin call: prints the body, dies on anything but 2xx
# BENCH_KEEP=1 keeps the data and work directory; a script sets keep_work_note to keep only the work
# directory (its diagnostics) with that note.

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench=$repo/bench
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/retail-crm/target}
bin=$CARGO_TARGET_DIR/release/retail-crm

log() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() { log "$*"; exit 2; }
py() { python3 "$bench/benchlib.py" "$@"; }
now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 2))"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

require_tools() { # [wrk]
    command -v psql >/dev/null || die "psql is missing (apt-get install postgresql-client)"
    command -v curl >/dev/null || die "curl is missing"
    command -v python3 >/dev/null || die "python3 is missing"
    if [[ ${1:-} == wrk ]] && ! command -v wrk >/dev/null; then
        log "wrk is missing: installing it with apt-get"
        if ! apt-get install -y -q wrk >/dev/null 2>&1; then
            apt-get update -q >/dev/null 2>&1 || true
            apt-get install -y -q wrk >/dev/null 2>&1 || die "could not install wrk (apt-get install wrk)"
        fi
    fi
}

build_service() {
    if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
        log "building the release binary (CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
        (cd "$repo" && cargo build --release --quiet --bin retail-crm)
    fi
    [[ -x $bin ]] || die "no binary at $bin (build it, or unset BENCH_SKIP_BUILD)"
}

server_pid=
bg_pids=()
keep_work_note=
admin_id='bench-admin'

stop_service() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null || true
        # The service stops its embedded PostgreSQL on SIGTERM; give it time, then insist.
        for _ in $(seq 1 300); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    for pid in "${bg_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    stop_service
    # A SIGKILLed service leaves its cluster running: stop it.
    if [[ -f $data_dir/db/pg/postmaster.pid ]]; then
        pg_ctl=$(printf '%s\n' /usr/lib/postgresql/*/bin/pg_ctl | sort -V | tail -n 1)
        [[ -x $pg_ctl ]] || pg_ctl=
        if [[ -n $pg_ctl ]]; then
            if [[ $(id -u) == 0 ]]; then
                runuser -u postgres -- "$pg_ctl" stop -D "$data_dir/db/pg" -m immediate -w >/dev/null 2>&1 || true
            else
                "$pg_ctl" stop -D "$data_dir/db/pg" -m immediate -w >/dev/null 2>&1 || true
            fi
        fi
    fi
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        log "kept $data_dir (work files in $work)"
    elif [[ $status -ne 0 ]]; then
        rm -rf "$data_dir/db/pg"
        log "failed: the service log and work files are in $work"
    elif [[ -n $keep_work_note ]]; then
        rm -rf "$data_dir/db/pg"
        log "$keep_work_note (in $work)"
    else
        rm -rf "$data_dir"
    fi
    exit "$status"
}
# A fresh data and work directory under /tmp (short: the embedded PostgreSQL's unix socket lives under
# it, 108-byte limit), removed on exit; a free loopback port and fresh secrets.
prepare_workspace() {
    data_dir=$(mktemp -d /tmp/crm-bench.XXXXXX)
    chmod 0711 "$data_dir" # as root, the service hands the cluster to the postgres user, who must reach it
    work=$data_dir/work
    mkdir -p "$work"
    server_log=$work/service.log
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    port=$(py free-port)
    base=http://127.0.0.1:$port
    admin_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
    jwt_secret=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
    pg_dir=$data_dir/db/pg
    db_url="postgres://postgres@localhost/retail_crm?host=$data_dir/db/run&port=5432"
}
pgq() { psql "$db_url" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

start_service() {
    log "starting the service on $base (data in $data_dir/db, pool $pool_size)"
    env -u DATABASE_URL \
        CRM_DATA_DIR="$data_dir/db" \
        CRM_BIND="127.0.0.1:$port" \
        CRM_JWT_SECRET="$jwt_secret" \
        CRM_BOOTSTRAP_CLIENT_ID="$admin_id" \
        CRM_BOOTSTRAP_CLIENT_SECRET="$admin_secret" \
        CRM_POOL_SIZE="$pool_size" \
        CRM_TIMEZONE="$tz" \
        CRM_RATE_LIMIT_RPS=0 \
        CRM_TOKEN_RATE_PER_ADDRESS=0 \
        RUST_LOG=warn \
        "$bin" serve >>"$server_log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 600); do
        if ! kill -0 "$server_pid" 2>/dev/null; then
            tail -n 30 "$server_log" >&2 || true
            die "the service exited before it was ready"
        fi
        if [[ $(curl -s -o /dev/null -w '%{http_code}' "$base/readyz" || true) == 200 ]]; then
            postmaster_pid=$(head -n 1 "$pg_dir/postmaster.pid")
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$server_log" >&2 || true
    die "the service did not become ready within 120 s"
}

# --- the seeded history ---
seed_history() {
    # Customers 1..phones have a phone (the lookup's BENCH_MEMBERS); 80% of all customers order. The order's
    # customer is a permutation of 0..customers-1 by a prime coprime with BENCH_CUSTOMERS.
    phones=$((customers - customers / 20))
    buyers=$((customers * 4 / 5))
    local prime=1000003
    ((customers % prime != 0)) || prime=999983

    # Secondary indexes (those not behind a constraint) of the tables the seed fills: dropped now, rebuilt
    # from their own definitions once the rows are in (a sorted build instead of 10 M random inserts each).
    local seeded_tables="'customers','customer_identities','identity_routes','memberships','customer_tags','orders','order_lines',\
'customer_activity','customer_categories','customer_facts'"
    pgq -c "SELECT i.indexdef || ';' FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename IN ($seeded_tables)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)
            ORDER BY i.tablename, i.indexname" >"$work/indexes.sql"
    pgq -c "SELECT format('DROP INDEX %I.%I;', i.schemaname, i.indexname) FROM pg_indexes i
            WHERE i.schemaname = 'public' AND i.tablename IN ($seeded_tables)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = format('%I.%I', i.schemaname, i.indexname)::regclass)" \
        >"$work/drop-indexes.sql"
    local secondary_indexes
    secondary_indexes=$(wc -l <"$work/indexes.sql")

    log "seeding $customers customers and $orders orders (lines for ${line_pct}%, a second line for ${second_line_pct}%) with COPY"
    local seed_start step_start
    seed_start=$(now)
    pgq -v customers="$customers" -v orders="$orders" -v phones="$phones" -v buyers="$buyers" -v prime="$prime" \
        -v stores="$stores" -v line_pct="$line_pct" -v second_line_pct="$second_line_pct" \
        -f "$bench/seed-segments.sql" >/dev/null
    pgq -f "$work/drop-indexes.sql" >/dev/null

    local copy_rows_total=0 copy_seconds_total=0 copy_json=()
    # Streams bench.<view> into <table> (<columns>) and records rows and seconds.
    copy_table() { # view table columns
        local view=$1 table=$2 columns=$3 start out rows secs
        start=$(now)
        out=$(PGOPTIONS='-c timezone=UTC' pgq -c "COPY (SELECT * FROM bench.$view) TO STDOUT" |
            PGOPTIONS='-c session_replication_role=replica' \
                psql "$db_url" -X -At -v ON_ERROR_STOP=1 -c "\\copy $table ($columns) FROM pstdin") ||
            die "COPY into $table failed"
        secs=$(since "$start")
        rows=${out##*COPY }
        [[ $rows =~ ^[0-9]+$ ]] || die "COPY into $table said '$out'"
        log "  $table: $rows rows in ${secs} s ($(python3 -c "print(round($rows / max($secs, 0.001)))") rows/s)"
        copy_rows_total=$((copy_rows_total + rows))
        copy_seconds_total=$(python3 -c "print(round($copy_seconds_total + $secs, 2))")
        copy_json+=("\"$table\": {\"rows\": $rows, \"seconds\": $secs}")
    }
    copy_table customers_copy customers \
        "id, name, gender, birthday, phone, email, city, source_channel, home_store_id, consents, status, created_at, updated_at"
    copy_table identities_copy customer_identities "kind, value, customer_id, created_at"
    copy_table routes_copy identity_routes "kind, value, customer_id"
    copy_table orders_copy orders \
        "id, owner_id, external_id, channel, store_id, customer_id, occurred_at, pricing, total_amount, paid_amount, created_at"
    copy_table order_lines_copy order_lines \
        "order_id, owner_id, line_no, sku, name, category, quantity, unit_price, amount, discounted_amount"

    log "  memberships, the audience tag ($audience)"
    step_start=$(now)
    PGOPTIONS='-c session_replication_role=replica' \
        pgq -v audience="$audience" -f "$bench/seed-segments-finish.sql" >/dev/null
    local finish_seconds
    finish_seconds=$(since "$step_start")

    # Orders loaded with COPY have no events: the derived tables are rebuilt from them, as after a restore.
    log "  retail-crm rebuild-reports (business days in $tz)"
    step_start=$(now)
    DATABASE_URL=$db_url CRM_TIMEZONE=$tz RUST_LOG=warn "$bin" rebuild-reports >"$work/rebuild-reports.out" ||
        die "retail-crm rebuild-reports failed"
    sed 's/^/    /' "$work/rebuild-reports.out" >&2
    local rebuild_seconds
    rebuild_seconds=$(since "$step_start")

    log "  rebuilding $secondary_indexes secondary indexes"
    step_start=$(now)
    PGOPTIONS='-c maintenance_work_mem=512MB' pgq -f "$work/indexes.sql" >/dev/null
    local index_seconds
    index_seconds=$(since "$step_start")
    log "  ... in ${index_seconds} s"

    # Customers hold coupons, as in a running chain: the till's lookup lists them, and its plan is made on a
    # coupons table with rows (an empty one at ANALYZE time gave the lookups a plan that scanned the whole
    # table while a campaign filled it).
    local coupons_held=$((customers / 5))
    log "  $coupons_held coupons held (bench/seed-coupons.sql)"
    pgq -v members="$phones" -v coupons="$coupons_held" -f "$bench/seed-coupons.sql" >/dev/null

    log "  VACUUM ANALYZE, CHECKPOINT"
    step_start=$(now)
    pgq -c 'VACUUM ANALYZE'
    pgq -c 'CHECKPOINT'
    local vacuum_seconds
    vacuum_seconds=$(since "$step_start")
    seed_seconds=$(since "$seed_start")
    log "  ... in ${vacuum_seconds} s; seeded in ${seed_seconds} s"

    counts_json=$(pgq -c "SELECT json_build_object(
        'customers', (SELECT count(*) FROM customers),
        'customers_with_phone', (SELECT count(*) FROM customers WHERE phone IS NOT NULL),
        'customers_sms_granted', (SELECT count(*) FROM customers WHERE (consents -> 'marketing_sms' ->> 'granted')::boolean),
        'identities', (SELECT count(*) FROM customer_identities),
        'memberships', (SELECT count(*) FROM memberships),
        'orders', (SELECT count(*) FROM orders),
        'order_lines', (SELECT count(*) FROM order_lines),
        'customer_activity', (SELECT count(*) FROM customer_activity),
        'customer_categories', (SELECT count(*) FROM customer_categories),
        'sales_daily', (SELECT count(*) FROM sales_daily),
        'co_purchases', (SELECT count(*) FROM co_purchases),
        'customer_rfm', (SELECT count(*) FROM customer_rfm),
        'audience_tagged', (SELECT count(*) FROM customer_tags WHERE tag = 'bench-campaign'),
        'database_bytes', pg_database_size(current_database()))")
    local copy_joined
    copy_joined=$(IFS=,; echo "${copy_json[*]}")
    seed_json="{\"seconds\": $seed_seconds, \"copy\": {$copy_joined}, \"copy_rows\": $copy_rows_total,
          \"copy_seconds\": $copy_seconds_total, \"finish_seconds\": $finish_seconds,
          \"rebuild_reports_seconds\": $rebuild_seconds, \"rebuild_reports\": $(python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))' <"$work/rebuild-reports.out"),
          \"index_seconds\": $index_seconds, \"secondary_indexes\": $secondary_indexes,
          \"vacuum_checkpoint_seconds\": $vacuum_seconds, \"counts\": $counts_json}"
}

# --- the API clients (after the seed: a token lives an hour) ---
token_for() {
    curl -sf "$base/v1/auth/token" -H 'content-type: application/json' \
        -d "{\"grant_type\":\"client_credentials\",\"client_id\":\"$1\",\"client_secret\":\"$2\"}" | json_field access_token
}
make_tokens() {
    admin_token=$(token_for "$admin_id" "$admin_secret") || die "could not get an admin token"
    # The tills' client, as in bench/orders-lookup: the lookup answers masked and writes no audit entry.
    local till
    till=$(curl -sf "$base/v1/api-clients" -H "authorization: Bearer $admin_token" -H 'content-type: application/json' \
        -d '{"name":"bench tills","scopes":["customers:read","orders:write"]}') || die "could not create the till API client"
    till_token=$(token_for "$(json_field client_id <<<"$till")" "$(json_field client_secret <<<"$till")") ||
        die "could not get a till token"
}

api() { # method path [json body]
    local method=$1 path=$2 body=${3:-} code
    local args=(-s -o "$work/api.body" -w '%{http_code}' -X "$method" "$base$path" -H "authorization: Bearer $admin_token")
    if [[ -n $body ]]; then args+=(-H 'content-type: application/json' --data-binary "$body"); fi
    code=$(curl "${args[@]}") || die "$method $path: curl failed"
    [[ $code == 2?? ]] || die "$method $path: HTTP $code: $(head -c 600 "$work/api.body")"
    cat "$work/api.body"
}

# The environment a report's meta.json carries, with any more fields given.
environment_json() { # [more "key": value fields]
    local cpu_model pg_version git_commit git_dirty=false
    cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo '?')
    pg_version=$(pgq -c 'SHOW server_version' | cut -d' ' -f1)
    git_commit=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')
    if [[ -n $(git -C "$repo" status --porcelain -- src migrations Cargo.toml Cargo.lock 2>/dev/null) ]]; then git_dirty=true; fi
    echo "{\"cpus\": $(nproc), \"cpu_model\": \"$cpu_model\", \"postgres\": \"$pg_version\", \"git_commit\": \"$git_commit\", \"git_dirty\": $git_dirty${1:+, $1}}"
}
