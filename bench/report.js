// Writes the Markdown results of bench/load.sh from its raw outputs:
//   node report.js OUT RATE DURATION CONNS HIVE_FORK UPTIME_AFTER
'use strict'
const fs = require('fs')
const [out, rate, duration, conns, fork, uptimeAfter] = process.argv.slice(2)

const rows = fs.readFileSync(`${out}/rows.tsv`, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
  const [round, peer, mode, rps, p50, p99, cpu, errors, n] = l.split('\t')
  return { round: +round, peer, mode, rps: +rps, p50: +p50, p99: +p99, cpu: +cpu, errors: +errors, n: +n }
})
const rss = fs.readFileSync(`${out}/rss.tsv`, 'utf8').trim().split('\n').filter(Boolean).map((l) => {
  const [round, peer, kib] = l.split('\t')
  return { round: +round, peer, mib: +kib / 1024 }
})
const peers = ['upstream', 'switchboard', 'minproxy', 'hive'].filter((p) => rows.some((r) => r.peer === p))
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const stat = (peer, mode, key) => {
  const xs = rows.filter((r) => r.peer === peer && r.mode === mode).map((r) => r[key])
  return xs.length ? median(xs) : NaN
}
const peakRSS = (peer) => Math.max(...rss.filter((r) => r.peer === peer).map((r) => r.mib))
const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a')

const L = []
L.push(`# Load benchmark results, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`, '')
L.push(`Produced by \`bash bench/load.sh\`. Query: \`calls(first: 20)\` (Hive: the composed \`searchCalls\` with`)
L.push(`the same 20 calls), upstream: the Sobot simulator (bench/cmd/simserver, seed 9, replay cache 1 s).`)
L.push(`Fixed rate: autocannon at ${rate} req/s; max: wrk -t2; ${conns} connections, ${duration} s per run,`)
L.push(`A/B alternated per round; Hive Gateway with --fork ${fork}. Medians over the rounds; CPU per request is the`)
L.push(`process tree's utime+stime during the run divided by the requests; peak RSS is VmHWM (summed over`)
L.push(`Hive's processes) after the peer's runs of a round. Switchboard's garbage collector: ${process.env.SB_GOGC ? `GOGC=${process.env.SB_GOGC}` : "Go's default (GOGC=100)"}${process.env.SB_GOMEMLIMIT ? `, GOMEMLIMIT=${process.env.SB_GOMEMLIMIT}` : ''}.`, '')
L.push(fs.readFileSync(`${out}/machine.md`, 'utf8'))
L.push(`Load average after the runs: \`${uptimeAfter.trim()}\``, '')

L.push('## Summary (medians over rounds)', '')
L.push(`| peer | req/s at ${rate}/s | p50 ms | p99 ms | CPU µs/req | max req/s | p50 ms | p99 ms | CPU µs/req | peak RSS MiB |`)
L.push('|---|---|---|---|---|---|---|---|---|---|')
for (const p of peers) {
  L.push(`| ${p} | ${f(stat(p, 'rate', 'rps'), 0)} | ${f(stat(p, 'rate', 'p50'), 2)} | ${f(stat(p, 'rate', 'p99'), 2)} | ${f(stat(p, 'rate', 'cpu'), 0)} | ` +
    `${f(stat(p, 'max', 'rps'), 0)} | ${f(stat(p, 'max', 'p50'), 2)} | ${f(stat(p, 'max', 'p99'), 2)} | ${f(stat(p, 'max', 'cpu'), 0)} | ` +
    `${p === 'upstream' ? '—' : f(peakRSS(p))} |`)
}
L.push('')

const sbMax = stat('switchboard', 'max', 'rps')
const verdict = (ok) => (ok ? 'met' : '**missed**')
L.push('## Targets', '')
L.push('| target | figure | |')
L.push('|---|---|---|')
if (peers.includes('hive')) {
  const r = sbMax / stat('hive', 'max', 'rps')
  L.push(`| req/s ≥ 5× Hive Gateway's | ${f(r, 2)}× | ${verdict(r >= 5)} |`)
} else {
  L.push(`| req/s ≥ 5× Hive Gateway's | Hive did not run | **not measured** |`)
}
const rp = sbMax / stat('minproxy', 'max', 'rps')
L.push(`| req/s ≥ 70% of the minimal proxy's | ${f(rp * 100, 0)}% | ${verdict(rp >= 0.7)} |`)
const dp = stat('switchboard', 'rate', 'p99') - stat('upstream', 'rate', 'p99')
L.push(`| p99 at ${rate} req/s < 5 ms above the upstream's own | +${f(dp, 2)} ms (${f(stat('switchboard', 'rate', 'p99'), 2)} vs ${f(stat('upstream', 'rate', 'p99'), 2)}) | ${verdict(dp < 5)} |`)
const mem = peakRSS('switchboard')
L.push(`| peak RSS < 64 MiB under load | ${f(mem)} MiB | ${verdict(mem < 64)} |`)
L.push('')

L.push('## Every run', '')
L.push('| round | peer | mode | req/s | p50 ms | p99 ms | CPU µs/req | requests | errors |')
L.push('|---|---|---|---|---|---|---|---|---|')
for (const r of rows) {
  L.push(`| ${r.round} | ${r.peer} | ${r.mode} | ${f(r.rps, 0)} | ${f(r.p50, 2)} | ${f(r.p99, 2)} | ${r.cpu} | ${r.n} | ${r.errors} |`)
}
L.push('')
L.push('| round | peer | peak RSS MiB |')
L.push('|---|---|---|')
for (const r of rss) L.push(`| ${r.round} | ${r.peer} | ${f(r.mib)} |`)
console.log(L.join('\n'))
