#!/usr/bin/env bash
# Tabulates bench/compare/run.sh's results.jsonl as Markdown: one row per server, then each
# issue-5 target as a ratio. Usage: table.sh results.jsonl
set -euo pipefail
R=${1:?results.jsonl}

q() { # q SERVER FILTER: the filter applied to that server's results (as one array)
    jq -rs --arg s "$1" "[.[] | select(.server == \$s)] | $2" "$R"
}
servers=$(jq -rs '[.[].server] | unique | .[]' "$R")

echo "| server | idle sessions held | KiB per idle session | peak messages/s | messages per server-CPU-second | p99 ms at half of peak (rate) | logins/s sequential | logins/s at concurrency 50 | server CPU ms per login (concurrent) | SCRAM iterations |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for s in $servers; do
    held=$(q "$s" '(map(select(.test=="sessions"))[0] | "\(.held) of \(.requested)") // "—"')
    kib=$(q "$s" '(map(select(.test=="sessions"))[0].kib_per_session | if . == null then "—" else (. * 10 | round / 10 | tostring) end) // "—"')
    peak=$(q "$s" '(map(select(.test=="throughput" and .rate == null))[0].per_second | round | tostring) // "—"')
    cpu=$(q "$s" '(map(select(.test=="throughput" and .rate == null))[0].messages_per_cpu_second | if . == null then "—" else (round | tostring) end) // "—"')
    p99=$(q "$s" '(map(select(.test=="throughput" and .rate != null))[0] | "\(.p99_us / 10 | round / 100) (\(.rate)/s)") // "—"')
    seq=$(q "$s" '(map(select(.test=="login-rate" and .concurrency == 1))[0].per_second * 10 | round / 10 | tostring) // "—"')
    conc=$(q "$s" '(map(select(.test=="login-rate" and .concurrency > 1))[0].per_second * 10 | round / 10 | tostring) // "—"')
    cpl=$(q "$s" '(map(select(.test=="login-rate" and .concurrency > 1))[0].server_cpu_ms_per_login * 100 | round / 100 | tostring) // "—"')
    iter=$(q "$s" '(map(select(.iterations != null))[0].iterations | tostring) // "—"')
    echo "| $s | $held | $kib | $peak | $cpu | $p99 | $seq | $conc | $cpl | $iter |"
done

ratio() { # ratio SERVER_A SERVER_B JQ_VALUE: A's value over B's
    local a b
    a=$(q "$1" "$3 // empty")
    b=$(q "$2" "$3 // empty")
    if [[ -n $a && -n $b ]]; then
        jq -n --argjson a "$a" --argjson b "$b" 'if $b == 0 then "—" else ($a / $b * 100 | round / 100 | tostring) end' -r
    else
        echo "—"
    fi
}
mem='map(select(.test=="sessions"))[0].kib_per_session'
cpu='map(select(.test=="throughput" and .rate == null))[0].messages_per_cpu_second'
conc='map(select(.test=="login-rate" and .concurrency > 1))[0].per_second'
seq='map(select(.test=="login-rate" and .concurrency == 1))[0].per_second'
echo
echo "| target | measured |"
echo "|---|---|"
echo "| memory per idle session ≤ 1/4 of ejabberd's | tessera/ejabberd = $(ratio tessera ejabberd "$mem") |"
echo "| memory per idle session < 16 KiB | $(q tessera "($mem | . * 10 | round / 10 | tostring) // \"—\"") KiB |"
echo "| messages per CPU-second ≥ 5× ejabberd | $(ratio tessera ejabberd "$cpu")× |"
echo "| messages per CPU-second ≥ 10× Prosody | $(ratio tessera prosody "$cpu")× |"
echo "| login rate ≥ 3× ejabberd (concurrent; sequential) | $(ratio tessera ejabberd "$conc")×; $(ratio tessera ejabberd "$seq")× |"
cpl='map(select(.test=="login-rate" and .concurrency > 1))[0].server_cpu_ms_per_login'
echo "| (server CPU per login: ejabberd's / Tessera's) | $(ratio ejabberd tessera "$cpl")× |"
echo "| p99 < 5 ms at half of peak | $(q tessera '(map(select(.test=="throughput" and .rate != null))[0].p99_us / 10 | round / 100 | tostring) // "—"') ms |"
