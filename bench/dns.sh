#!/usr/bin/env bash
# bench/dns.sh: `ward serve` against Unbound, on loopback, one core each.
#
# What it measures. Both resolvers block the same 1,000,000 generated names
# with NXDOMAIN (Ward: `--list malware=FILE` and a one-rule policy; Unbound:
# one `local-zone: "NAME." always_nxdomain` per name) and forward everything
# else to the same upstream, a third process on loopback. dnsperf, pinned to
# the other core, sends them the same queries: half listed names (a quarter
# of those one label below a listed name), half allowed names (ALLOWED
# distinct names, A and AAAA, so both caches are warm after the first pass).
# Per resolver and round it reports queries a second, p50 and p99 latency,
# lost queries, and the server's CPU use: the share of its core it got and
# its CPU time per answered query (the measure that depends least on what
# else the machine runs). Per resolver: resident memory (VmRSS, VmHWM)
# after loading the list and after the runs, and the time from start to
# the first answer. Then medians over the rounds and ratios Ward / Unbound.
#
# How the latency percentiles are got: dnsperf 2.10 prints only the mean and
# standard deviation, so each run uses `dnsperf -v`, which prints every
# response's latency, and the percentiles are computed from those lines
# (timeouts, printed as `T`, are not in them; they are the lost queries).
# The latencies are those of a saturated server (dnsperf keeps OUTSTANDING
# queries in flight), so they are mostly queueing: about OUTSTANDING / qps.
# Lost queries are, in our runs, the server's socket buffer overflowing
# while another process had its core (`RcvbufErrors` in /proc/net/snmp).
#
# The upstream is a second Unbound, answering the allowed names from
# `local-data` under a `local-zone: "." static` (everything else NXDOMAIN,
# and it never asks anyone). Unbound because it is already needed, starts
# from a plain config with no zone compilation step (nsd and knot need one),
# and answers 10,000 records from memory; it only matters during the first
# pass, before both caches are warm.
#
# Run it from anywhere, on an otherwise quiet machine with 2 or more cores:
#
#   bench/dns.sh                                  # builds ward (cargo build --release)
#   WARD=/path/to/ward DURATION=15 bench/dns.sh   # an existing binary
#
# Settings (environment): WARD, DURATION (seconds per run, 20), ROUNDS (3;
# runs alternate between the two resolvers), WARMUP (seconds, 3), NAMES
# (listed names, 1000000), ALLOWED (allowed names, 5000), CLIENTS (dnsperf
# -c, 20), OUTSTANDING (dnsperf -q, 100), SERVER_CPU (0), CLIENT_CPU (1),
# PORT_BASE (first of four ports, 15350), KEEP=1 (keep the temp
# directory), CARGO_TARGET_DIR (respected when building).
#
# Everything listens on and talks to 127.0.0.1 only. As root, missing
# Debian packages (unbound, dnsperf, bind9-dnsutils) are installed with
# apt-get. Exits non-zero when anything fails to start or the two
# resolvers disagree on an answer.

set -euo pipefail

DURATION=${DURATION:-20}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-3}
NAMES=${NAMES:-1000000}
ALLOWED=${ALLOWED:-5000}
CLIENTS=${CLIENTS:-20}
OUTSTANDING=${OUTSTANDING:-100}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT_BASE=${PORT_BASE:-15350}
KEEP=${KEEP:-0}

PORT_UPSTREAM=$PORT_BASE
PORT_UNBOUND=$((PORT_BASE + 1))
PORT_WARD=$((PORT_BASE + 2))
PORT_METRICS=$((PORT_BASE + 3))
# Seconds a server may take to load the list and answer a first query.
START_TIMEOUT=300

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

for setting in DURATION ROUNDS WARMUP NAMES ALLOWED CLIENTS OUTSTANDING \
    SERVER_CPU CLIENT_CPU PORT_BASE; do
    [[ ${!setting} =~ ^[0-9]+$ ]] || die "$setting must be a whole number, got \`${!setting}\`"
done
((NAMES >= 1000 && ALLOWED >= 10 && ROUNDS >= 1 && DURATION >= 1)) ||
    die "NAMES must be at least 1000, ALLOWED at least 10, ROUNDS and DURATION at least 1"

# --- Tools -----------------------------------------------------------------

need_packages=()
command -v unbound >/dev/null || need_packages+=(unbound)
command -v dnsperf >/dev/null || need_packages+=(dnsperf)
command -v dig >/dev/null || need_packages+=(bind9-dnsutils)
if ((${#need_packages[@]} > 0)); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        say "installing ${need_packages[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_packages[@]}" >&2 ||
            die "apt-get install ${need_packages[*]} failed"
    else
        die "missing ${need_packages[*]}: install them (Debian: apt-get install ${need_packages[*]})"
    fi
fi
for tool in awk taskset unbound unbound-checkconf dnsperf dig; do
    command -v "$tool" >/dev/null || die "\`$tool\` is not installed"
done
cpus=$(nproc)
((SERVER_CPU < cpus && CLIENT_CPU < cpus)) ||
    die "SERVER_CPU and CLIENT_CPU must be below the number of CPUs ($cpus)"
((SERVER_CPU != CLIENT_CPU)) || die "SERVER_CPU and CLIENT_CPU must differ"

if [[ -n ${WARD:-} ]]; then
    [[ -x $WARD ]] || die "WARD=\`$WARD\` is not an executable file"
else
    command -v cargo >/dev/null || die "cargo not found: set WARD=path/to/ward"
    say "building ward (cargo build --release in $REPO)"
    (cd "$REPO" && cargo build --release) >&2 || die "cargo build --release failed"
    target_dir=${CARGO_TARGET_DIR:-target}
    [[ $target_dir = /* ]] || target_dir=$REPO/$target_dir
    WARD=$target_dir/release/ward
    [[ -x $WARD ]] || die "the build did not produce \`$WARD\`"
fi
WARD=$(cd "$(dirname "$WARD")" && pwd)/$(basename "$WARD")

# A port taken by someone else would make a server fail to start, or worse,
# the benchmark measure the other program.
if command -v ss >/dev/null; then
    for port in "$PORT_UPSTREAM" "$PORT_UNBOUND" "$PORT_WARD" "$PORT_METRICS"; do
        [[ -z $(ss -Hlnu "sport = :$port"; ss -Hlnt "sport = :$port") ]] ||
            die "port $port is in use on this machine: set PORT_BASE to a free range"
    done
fi

# --- Processes and cleanup -------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ward-bench-dns.XXXXXX")
# The servers, and dnsperf while it runs. Each stays ours until waited for.
PIDS=()
CLIENT_PID=
# Nothing is written outside the temp directory.
cd "$WORK"

cleanup() {
    local status=$?
    local pid
    [[ -n $CLIENT_PID ]] && PIDS+=("$CLIENT_PID")
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        # A server that ignores SIGTERM for 5 s gets SIGKILL.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    cd /
    if [[ $KEEP = 1 ]]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# rcode SERVER_PORT NAME TYPE: the response code, or nothing on no answer.
rcode() {
    dig +time=2 +tries=1 -p "$1" @127.0.0.1 "$2" "$3" 2>/dev/null |
        sed -n 's/.*status: \([A-Z]*\),.*/\1/p'
}

# wait_ready WHAT PID PORT LOG: waits until the server answers a query, for
# at most START_TIMEOUT seconds; fails when it exits first.
wait_ready() {
    local what=$1 pid=$2 port=$3 log=$4 started=$SECONDS
    while ((SECONDS - started < START_TIMEOUT)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2 || true
            die "$what exited while starting (log above, $log)"
        fi
        if [[ -n $(rcode "$port" ready.probe.invalid A) ]]; then
            return 0
        fi
        sleep 0.2
    done
    tail -n 20 "$log" >&2 || true
    die "$what did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
}

# memory PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in MiB.
memory() {
    awk -v field="$2:" '$1 == field { printf "%.1f", $2 / 1024 }' "/proc/$1/status"
}

# cpu_ticks PID: user + system clock ticks of the whole process.
cpu_ticks() {
    # The command name (field 2) may hold spaces; count from after its `)`.
    local stat
    stat=$(<"/proc/$1/stat")
    stat=${stat##*) }
    awk '{ print $12 + $13 }' <<<"$stat"
}
TICKS=$(getconf CLK_TCK)

# --- Data ------------------------------------------------------------------

say "generating $NAMES listed names and $ALLOWED allowed names in $WORK"

# The block-list, a plain domain list: a MINSTD generator picks words and
# TLDs, the line number keeps every name unique, a third get a subdomain.
awk -v n="$NAMES" 'BEGIN {
    split("cloud update cdn secure login account verify mail portal track " \
          "stat pixel ad media sync relay", word, " ")
    split("com net org info xyz top io biz", tld, " ")
    split("api cdn img", sub_, " ")
    x = 20261204
    for (i = 0; i < n; i++) {
        x = (x * 48271) % 2147483647
        name = word[x % 16 + 1] i word[int(x / 16) % 16 + 1] "." tld[int(x / 256) % 8 + 1]
        if (i % 3 == 0) name = sub_[int(x / 2048) % 3 + 1] "." name
        print name
    }
}' >"$WORK/blocklist.txt"

# Unbound's form of the same list.
awk '{ printf "local-zone: \"%s.\" always_nxdomain\n", $1 }' \
    "$WORK/blocklist.txt" >"$WORK/unbound-block.conf"

# Allowed names: `shopN` labels, which no listed name has.
awk -v n="$ALLOWED" 'BEGIN {
    split("www api img mail", host, " ")
    split("com net org info xyz top io biz", tld, " ")
    for (j = 0; j < n; j++) print host[j % 4 + 1] ".shop" j "." tld[int(j / 4) % 8 + 1]
}' >"$WORK/allowed.txt"

# Queries: listed and allowed names alternate. Listed names are spread over
# the whole list (up to 50,000 distinct, so lookups miss the CPU caches as
# they would in service); every fourth is asked one label below the listed
# name. Types alternate A and AAAA.
awk -v names="$NAMES" -v allowed="$ALLOWED" '
    FNR == NR { allow[FNR - 1] = $1; next }
    { listed[FNR - 1] = $1 }
    END {
        distinct = names < 50000 ? names : 50000
        step = int(names / distinct)
        for (k = 0; k < distinct; k++) {
            name = listed[k * step]
            if (k % 4 == 3) name = "www." name
            print name, (k % 2 ? "AAAA" : "A")
            print allow[k % allowed], (int(k / allowed) % 2 ? "AAAA" : "A")
        }
    }' "$WORK/allowed.txt" "$WORK/blocklist.txt" >"$WORK/queries.txt"
blocked_queries=$(awk 'NR % 2 == 1' "$WORK/queries.txt" | wc -l)
allowed_queries=$(awk 'NR % 2 == 0' "$WORK/queries.txt" | wc -l)

# --- The upstream ----------------------------------------------------------

# unbound_server PORT: the `server:` lines both Unbounds share: loopback
# only, one thread, in the foreground, no DNSSEC validation (Ward does none
# either).
unbound_server() {
    cat <<EOF
server:
  interface: 127.0.0.1
  port: $1
  outgoing-interface: 127.0.0.1
  do-ip6: no
  so-reuseport: no
  num-threads: 1
  chroot: ""
  username: ""
  directory: "$WORK"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  module-config: "iterator"
  access-control: 127.0.0.0/8 allow
EOF
}

{
    unbound_server "$PORT_UPSTREAM"
    printf '  local-zone: "." static\n'
    awk '{ n = NR - 1
           printf "  local-data: \"%s. 3600 IN A 192.0.2.%d\"\n", $1, n % 250 + 1
           printf "  local-data: \"%s. 3600 IN AAAA 2001:db8::%x\"\n", $1, n + 1 }' \
        "$WORK/allowed.txt"
    printf 'remote-control:\n  control-enable: no\n'
} >"$WORK/upstream.conf"
unbound-checkconf "$WORK/upstream.conf" >/dev/null || die "the upstream configuration is invalid"

say "starting the upstream on 127.0.0.1:$PORT_UPSTREAM"
taskset -c "$CLIENT_CPU" unbound -d -c "$WORK/upstream.conf" >"$WORK/upstream.log" 2>&1 &
PIDS+=("$!")
wait_ready upstream "$!" "$PORT_UPSTREAM" "$WORK/upstream.log"
first_allowed=$(head -n 1 "$WORK/allowed.txt")
[[ $(rcode "$PORT_UPSTREAM" "$first_allowed" A) = NOERROR ]] ||
    die "the upstream does not answer \`$first_allowed\`"

# --- Unbound ---------------------------------------------------------------

{
    unbound_server "$PORT_UNBOUND"
    cat <<EOF
  do-not-query-localhost: no
  qname-minimisation: no
  msg-cache-size: 64m
  rrset-cache-size: 128m
  include: "$WORK/unbound-block.conf"
remote-control:
  control-enable: no
forward-zone:
  name: "."
  forward-addr: 127.0.0.1@$PORT_UPSTREAM
EOF
} >"$WORK/unbound.conf"
unbound-checkconf "$WORK/unbound.conf" >/dev/null || die "the Unbound configuration is invalid"

say "starting Unbound on 127.0.0.1:$PORT_UNBOUND (CPU $SERVER_CPU), loading the list"
started=$(date +%s.%N)
taskset -c "$SERVER_CPU" unbound -d -c "$WORK/unbound.conf" >"$WORK/unbound.log" 2>&1 &
UNBOUND_PID=$!
PIDS+=("$UNBOUND_PID")
wait_ready Unbound "$UNBOUND_PID" "$PORT_UNBOUND" "$WORK/unbound.log"
unbound_start=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# --- Ward ------------------------------------------------------------------

# The shipped dns-security policy sinkholes malware; this bundle answers
# NXDOMAIN, as Unbound's always_nxdomain does.
mkdir "$WORK/policy"
cat >"$WORK/policy/bench.ward" <<'EOF'
# The benchmark's policy: listed malware names get NXDOMAIN.
policy "bench" {
  mode enforce
  on error allow

  rule malware on dns {
    when dns.categories has malware
    then block respond nxdomain
  }

  default allow
}
EOF
# One UDP thread, no file watching, no decision log (none is configured).
# Metrics cannot be turned off (the default is 127.0.0.1:9153), so they get
# a port of their own, away from any other ward on this machine.
cat >"$WORK/ward.toml" <<EOF
[serve]
listen = ["127.0.0.1:$PORT_WARD"]
udp_threads = 1
watch = false

[metrics]
listen = "127.0.0.1:$PORT_METRICS"
EOF

say "starting ward serve on 127.0.0.1:$PORT_WARD (CPU $SERVER_CPU), loading the list"
started=$(date +%s.%N)
taskset -c "$SERVER_CPU" "$WARD" serve --config "$WORK/ward.toml" \
    --policy "$WORK/policy" --list "malware=$WORK/blocklist.txt" \
    --upstream "127.0.0.1:$PORT_UPSTREAM" >"$WORK/ward.log" 2>&1 &
WARD_PID=$!
PIDS+=("$WARD_PID")
wait_ready "ward serve" "$WARD_PID" "$PORT_WARD" "$WORK/ward.log"
ward_start=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

# --- Same answers ----------------------------------------------------------

listed_name=$(sed -n 2p "$WORK/blocklist.txt")
for question in "$listed_name A" "www.$listed_name AAAA" "$first_allowed A" \
    "$first_allowed AAAA"; do
    read -r name type <<<"$question"
    from_unbound=$(rcode "$PORT_UNBOUND" "$name" "$type")
    from_ward=$(rcode "$PORT_WARD" "$name" "$type")
    [[ -n $from_unbound && $from_unbound = "$from_ward" ]] ||
        die "\`$name $type\`: Unbound answers ${from_unbound:-nothing}, ward ${from_ward:-nothing}"
    say "  $name $type: $from_ward from both"
done
[[ $(rcode "$PORT_WARD" "$listed_name" A) = NXDOMAIN ]] ||
    die "ward does not block \`$listed_name\`"
[[ $(rcode "$PORT_WARD" "$first_allowed" A) = NOERROR ]] ||
    die "ward does not resolve \`$first_allowed\`"

# Memory by server and moment: MEMORY[ward,VmRSS,loaded].
declare -A MEMORY
for field in VmRSS VmHWM; do
    MEMORY[unbound,$field,loaded]=$(memory "$UNBOUND_PID" "$field")
    MEMORY[ward,$field,loaded]=$(memory "$WARD_PID" "$field")
done

# --- Warm-up ---------------------------------------------------------------

port_of() { if [[ $1 = ward ]]; then echo "$PORT_WARD"; else echo "$PORT_UNBOUND"; fi; }
pid_of() { if [[ $1 = ward ]]; then echo "$WARD_PID"; else echo "$UNBOUND_PID"; fi; }

# perf_run SERVER OUT DNSPERF-OPTION...: one dnsperf run through the
# queries, `-v` output in OUT.
perf_run() {
    local server=$1 out=$2
    shift 2
    # In the background, so that a signal stops the benchmark at once.
    taskset -c "$CLIENT_CPU" dnsperf -s 127.0.0.1 -p "$(port_of "$server")" \
        -d "$WORK/queries.txt" -t 2 -v "$@" >"$out" 2>"$out.err" &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || die "dnsperf against $server failed: $(tail -n 3 "$out.err")"
    CLIENT_PID=
}

# One unhurried pass through the queries fills both caches and checks every
# answer: a listed name (or a name below one) NXDOMAIN, an allowed (`shopN`)
# name NOERROR. A few queries lost to a full socket buffer are allowed; a
# wrong answer is not.
for server in unbound ward; do
    say "warming up $server: one pass through the queries, then ${WARMUP}s"
    perf_run "$server" "$WORK/pass-$server.txt" -n 1 -c 4 -q 20
    read -r right wrong lost < <(awk '
        $1 == ">" {
            if ($2 == "T") { lost++; next }
            expected = ($3 ~ /[.]shop[0-9]+[.]/) ? "NOERROR" : "NXDOMAIN"
            if ($2 == expected) right++
            else { wrong++; if (wrong <= 5) print $0 > "/dev/stderr" }
        }
        END { print right + 0, wrong + 0, lost + 0 }' "$WORK/pass-$server.txt")
    ((wrong == 0 && lost * 100 < blocked_queries + allowed_queries)) ||
        die "$server: $wrong wrong answers (above) and $lost lost of $((blocked_queries + allowed_queries))"
    say "  $right right answers, $lost lost"
    perf_run "$server" "$WORK/warm-$server.txt" -l "$WARMUP" -c "$CLIENTS" -q "$OUTSTANDING"
done

# --- Measure ---------------------------------------------------------------

# summary OUT: qps, p50 and p99 (microseconds), lost, answered, of one run.
summary() {
    local qps lost
    qps=$(awk '/Queries per second:/ { printf "%.0f", $4 }' "$1")
    lost=$(awk '/Queries lost:/ { print $3 }' "$1")
    awk -v qps="$qps" -v lost="$lost" '
        $1 == ">" && $NF ~ /^[0-9.]+$/ { us = int($NF * 1e6 + 0.5); count[us]++; n++
                                          if (us > max) max = us }
        END {
            if (n == 0) { print qps, "-", "-", lost, 0; exit }
            seen = 0; p50 = ""; p99 = ""
            for (us = 0; us <= max; us++) {
                seen += count[us]
                if (p50 == "" && seen >= 0.50 * n) p50 = us
                if (p99 == "" && seen >= 0.99 * n) { p99 = us; break }
            }
            print qps, p50, p99, lost, n
        }' "$1"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A RESULTS
order=(unbound ward)
for round in $(seq "$ROUNDS"); do
    for server in "${order[@]}"; do
        pid=$(pid_of "$server")
        say "round $round/$ROUNDS: $server, ${DURATION}s"
        before=$(cpu_ticks "$pid")
        perf_run "$server" "$WORK/run-$round-$server.txt" \
            -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING"
        after=$(cpu_ticks "$pid")
        read -r qps p50 p99 lost answered < <(summary "$WORK/run-$round-$server.txt") ||
            die "no statistics in dnsperf's output, $WORK/run-$round-$server.txt"
        # The share of its core the server used, and its CPU time per answer.
        read -r share per_query < <(awk -v t=$((after - before)) -v hz="$TICKS" \
            -v d="$DURATION" -v n="$answered" 'BEGIN {
                printf "%.0f %.2f\n", 100 * t / hz / d, (n > 0 ? 1e6 * t / hz / n : 0) }')
        RESULTS[$round,$server]="$qps $p50 $p99 $lost $share $per_query"
        # Keep dnsperf's statistics, drop the per-query lines (tens of MB).
        grep -v '^>' "$WORK/run-$round-$server.txt" >"$WORK/run-$round-$server.stats" || true
        rm -f "$WORK/run-$round-$server.txt"
    done
    # Alternate which goes first, so drift in the machine's load is shared.
    order=("${order[1]}" "${order[0]}")
done

for field in VmRSS VmHWM; do
    MEMORY[unbound,$field,after]=$(memory "$UNBOUND_PID" "$field")
    MEMORY[ward,$field,after]=$(memory "$WARD_PID" "$field")
done

# --- Report ----------------------------------------------------------------

# median VALUES...: the median (the mean of the middle two for an even count).
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
printf '\n## ward serve vs Unbound %s, %s names listed, %s s runs, %s rounds\n\n' \
    "$(unbound -V | awk 'NR == 1 { print $2 }')" "$NAMES" "$DURATION" "$ROUNDS"
printf 'ward: %s (%s)\n' "$WARD" "$("$WARD" --version 2>/dev/null || echo "version unknown")"
printf 'dnsperf -c %s -q %s -t 2 -v on CPU %s; servers on CPU %s\n' \
    "$CLIENTS" "$OUTSTANDING" "$CLIENT_CPU" "$SERVER_CPU"
printf 'load average %s before the runs, %s after\n' "$load_before" "$load_after"
printf 'queries: %s listed (NXDOMAIN), %s allowed (NOERROR, cached)\n\n' \
    "$blocked_queries" "$allowed_queries"

printf '| round | server | qps | p50 (µs) | p99 (µs) | lost | core used (%%) | CPU per query (µs) |\n'
printf '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n'
measures=(qps p50 p99 lost share per_query)
declare -A COLUMN
for server in unbound ward; do
    declare -A values=()
    for round in $(seq "$ROUNDS"); do
        read -r "${measures[@]}" <<<"${RESULTS[$round,$server]}"
        printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$round" "$server" \
            "$qps" "$p50" "$p99" "$lost" "$share" "$per_query"
        for measure in "${measures[@]}"; do
            values[$measure]+="${!measure} "
        done
    done
    for measure in "${measures[@]}"; do
        # Word splitting of the list is wanted here.
        # shellcheck disable=SC2086
        COLUMN[$server,$measure]=$(median ${values[$measure]})
    done
    unset values
done

declare -A LABEL=([qps]="queries a second" [p50]="p50 latency (µs)"
    [p99]="p99 latency (µs)" [lost]="lost queries" [share]="core used (%)"
    [per_query]="server CPU per query (µs)")
printf '\n| median of %s rounds | Unbound | ward | ward / Unbound |\n' "$ROUNDS"
printf '| --- | ---: | ---: | ---: |\n'
for measure in "${measures[@]}"; do
    printf '| %s | %s | %s | %s |\n' "${LABEL[$measure]}" "${COLUMN[unbound,$measure]}" \
        "${COLUMN[ward,$measure]}" "$(ratio "${COLUMN[ward,$measure]}" "${COLUMN[unbound,$measure]}")"
done
for moment in loaded after; do
    when="after loading"
    [[ $moment = after ]] && when="after the runs"
    for field in VmRSS VmHWM; do
        unbound_mib=${MEMORY[unbound,$field,$moment]}
        ward_mib=${MEMORY[ward,$field,$moment]}
        printf '| %s %s (MiB) | %s | %s | %s |\n' "$field" "$when" "$unbound_mib" \
            "$ward_mib" "$(ratio "$ward_mib" "$unbound_mib")"
    done
done
printf '| start to first answer (s) | %s | %s | %s |\n' "$unbound_start" "$ward_start" \
    "$(ratio "$ward_start" "$unbound_start")"
