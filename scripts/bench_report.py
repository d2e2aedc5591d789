"""Writes docs/benchmarks.md from the JSON figures of scripts/bench.sh (argument: their folder)."""
import json
import pathlib
import platform
import subprocess
import sys

folder = pathlib.Path(sys.argv[1])
inproc = json.loads((folder / "inproc.json").read_text())
http = json.loads((folder / "http.json").read_text())
peer = json.loads((folder / "peer.json").read_text())
big = json.loads((folder / "big.json").read_text())
bulk = json.loads((folder / "bulk.json").read_text())["bulk"]
http_bulk = json.loads((folder / "http_bulk.json").read_text())["bulk"]
wrk = json.loads((folder / "wrk.json").read_text())

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
memory = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()

mix, raw = inproc["mix"], inproc["raw_sled_limit"]
ratio_raw = mix["events_per_second"] / raw["events_per_second"]
ratio_peer = mix["settlements_per_second"] / max(peer["settlements_per_second"], 1)
ratio_peer_http = http["mix"]["settlements_per_second"] / max(peer["settlements_per_second"], 1)
# The process's resident memory once the engine holds the population, read before the
# benchmark's own measurements (a replay into a second state, the raw-limit envelopes) add to
# it. Documents before 2026-12-02 used the process's peak instead; both are in the figures.
memory_per_person = big["engine_rss_bytes"] / big["population"]["persons"]

def ok(flag):
    return "met" if flag else "not met"

print(f"""# Benchmarks

Figures, not tests: nothing in the test suite asserts a time. Everything below comes from one
run of one command:

```sh
bash scripts/bench.sh
```

## Machine and method

{cores} cores ({cpu}), {int(memory) // 1024 // 1024} GiB RAM, one virtual disk; {platform.system()} {platform.release()};
{rustc}; release build. The load generator runs on the same machine as what it measures.
Every client waits for its answer before sending the next request, and every answer of a
mutating request waits for its fsync.

- **In-process**: `gongji bench` builds a population through the engine (three regions with
  different rule sets; about a third employees with balances; families of 1–4 beneficiaries)
  and runs the mix (≈ 70 % settlements, 10 % refunds, 10 % hold + capture/void, 5 % credits,
  5 % premiums and status changes, and a balance read with every operation) from
  {mix['clients']} clients.
- **The limit**: the same envelopes appended to raw sled with `apply_batch`, `flush` and an
  fsync per batch of the files sled changed (the store's own rule), back to back, in batches
  of the size the engine committed on average during the mix (counted by a commit observer).
- **The peer**: the settlement workload on cqrs-es 0.5.0 + postgres-es 0.5.0 (one `Account`
  aggregate per person, pay what the balance allows, the rest out of pocket), PostgreSQL 15
  at its durable defaults (fsync on, synchronous_commit on), {peer['clients']} clients.
- **HTTP**: `gongji bench --url` against `gongji serve` with NATS JetStream and the publisher
  running; {http['mix']['clients']} keep-alive HTTP/1.1 connections, each waiting for its answer.

## Figures

| figure | value |
|---|---|
| population (in-process) | {inproc['population']['persons']:,} persons, {inproc['population']['events']:,} events in {inproc['population']['seconds']:.1f} s |
| mix in-process | {mix['requests']:,} requests in {mix['seconds']:.1f} s: {mix['requests_per_second']:,.0f} requests/s, **{mix['settlements_per_second']:,.0f} settlements/s**, {mix['events_per_second']:,.0f} events/s |
| group commits in-process | {mix['group_commits']:,} commits, {mix['events_per_commit']:.1f} events each, {mix['commit_ms_mean']:.2f} ms each to write, flush and fsync |
| latency in-process | p50 {mix['latency_ms']['p50']:.2f} ms, p99 {mix['latency_ms']['p99']:.2f} ms, p999 {mix['latency_ms']['p999']:.2f} ms |
| raw sled limit (batches of {raw['batch']}) | {raw['events_per_second']:,.0f} events/s |
| disk | {inproc['disk']['bytes_per_event']:,} bytes per event ({inproc['disk']['events']:,} events) |
| replay from the first event | **{inproc['replay']['events_per_second']:,.0f} events/s** ({inproc['replay']['events']:,} events in {inproc['replay']['seconds']:.1f} s) |
| as-of lookup at {inproc['as_of']['history_events']:,} events | p50 {inproc['as_of']['p50_us']:.2f} µs, **p99 {inproc['as_of']['p99_us']:.2f} µs** |
| bulk in-process, batches of {bulk['batch']:,} | {bulk['settlements']:,} settlements in {bulk['seconds']:.1f} s: **{bulk['settlements_per_second']:,.0f} settlements/s**; {bulk['group_commits']:,} group commits of {bulk['events_per_commit']:.0f} events, {bulk['commit_ms_mean']:.2f} ms each; a batch answered in p50 {bulk['latency_ms']['p50']:.0f} ms |
| HTTP bulk, `POST /v1/batch` of {http_bulk['batch']:,} | {http_bulk['settlements']:,} settlements in {http_bulk['seconds']:.1f} s: **{http_bulk['settlements_per_second']:,.0f} settlements/s**; a batch answered in p50 {http_bulk['latency_ms']['p50']:.0f} ms, p99 {http_bulk['latency_ms']['p99']:.0f} ms; {http_bulk['errors_5xx_or_transport']} errors |
| wrk, 64 connections, unique settlements, publisher on | {wrk['requests']:,} requests in {wrk['seconds']:.0f} s: **{wrk['requests_per_second']:,.0f} settlements/s**; p50 {wrk['latency_ms']['p50']:.1f} ms, p90 {wrk['latency_ms']['p90']:.1f} ms, **p99 {wrk['latency_ms']['p99']:.1f} ms**, p999 {wrk['latency_ms']['p999']:.1f} ms, max {wrk['latency_ms']['max']:.1f} ms; {wrk['other_status']} answers other than 201, {wrk['socket_errors']} socket errors |
| HTTP | {http['mix']['requests']:,} requests in {http['mix']['seconds']:.1f} s: {http['mix']['requests_per_second']:,.0f} requests/s, **{http['mix']['settlements_per_second']:,.0f} settlements/s**; p50 {http['mix']['latency_ms']['p50']:.2f} ms, **p99 {http['mix']['latency_ms']['p99']:.2f} ms**; {http['mix']['errors_5xx_or_transport']} errors |
| JetStream publisher | {http['publisher']['published']:,} events acknowledged, drained {http['publisher']['seconds_until_drained']:.1f} s after the burst began ({http['publisher']['events_per_second']:,.0f} events/s); peak lag {http['publisher']['lag_events_peak']:,} events |
| peer (cqrs-es + postgres-es) | {peer['settlements']:,} settlements in {peer['seconds']:.1f} s: **{peer['settlements_per_second']:,.0f} settlements/s**; p50 {peer['latency_ms']['p50']:.2f} ms, p99 {peer['latency_ms']['p99']:.2f} ms |
| memory at {big['population']['persons']:,} persons ({big['population']['events']:,} events) | RSS once the engine holds them {big['engine_rss_bytes'] / 2**20:,.0f} MiB: **{memory_per_person:,.0f} bytes per person** (the engine, plus the load generator's list of bindings); the process's peak {big['peak_rss_bytes'] / 2**20:,.0f} MiB ({big['peak_rss_bytes'] / big['population']['persons']:,.0f} bytes per person), reached while it also holds a replayed copy of the state and the raw-limit envelopes |
| memory, in-process run | RSS {inproc['engine_rss_bytes'] / 2**20:,.0f} MiB after the mix, for {inproc['population']['persons']:,} persons and {inproc['disk']['events']:,} events; peak {inproc['peak_rss_bytes'] / 2**20:,.0f} MiB |

## Ratios and targets

| target | measured | |
|---|---|---|
| bulk in-process, batches of 8,190, durable ≥ 230,000 settlements/s (TigerBeetle's `benchmark` on this kind of machine) | {bulk['settlements_per_second']:,.0f}/s ({bulk['settlements_per_second'] / 230000:.2f}×) | {ok(bulk['settlements_per_second'] >= 230000)} |
| HTTP bulk, `/v1/batch` of 8,192 ≥ 100,000 settlements/s | {http_bulk['settlements_per_second']:,.0f}/s ({http_bulk['settlements_per_second'] / 100000:.2f}×) | {ok(http_bulk['settlements_per_second'] >= 100000)} |
| in-process durable throughput ≥ 0.6× the raw sled limit | {ratio_raw:.2f}× | {ok(ratio_raw >= 0.6)} |
| HTTP, wrk 64 connections, single settlements, publisher on: ≥ 20,000 settlements/s with p99 ≤ 20 ms | {wrk['requests_per_second']:,.0f}/s ({wrk['requests_per_second'] / 20000:.2f}×), p99 {wrk['latency_ms']['p99']:.1f} ms | {ok(wrk['requests_per_second'] >= 20000 and wrk['latency_ms']['p99'] <= 20)} |
| HTTP mix (`gongji bench --url`) ≥ 20,000 settlements/s with p99 ≤ 20 ms | {http['mix']['settlements_per_second']:,.0f}/s, p99 {http['mix']['latency_ms']['p99']:.1f} ms | {ok(http['mix']['settlements_per_second'] >= 20000 and http['mix']['latency_ms']['p99'] <= 20)} |
| ≥ 30× the peer | in-process {ratio_peer:.1f}×, HTTP {ratio_peer_http:.1f}× | {ok(ratio_peer >= 30)} |
| replay ≥ 1,000,000 events/s | {inproc['replay']['events_per_second']:,.0f}/s | {ok(inproc['replay']['events_per_second'] >= 1e6)} |
| as-of p99 ≤ 1 ms, flat in history length | {inproc['as_of']['p99_us']:.2f} µs at {inproc['as_of']['history_events']:,} events | {ok(inproc['as_of']['p99_us'] <= 1000)} |
| disk ≤ 200 bytes per event | {inproc['disk']['bytes_per_event']:,} (the mix's ledger, {inproc['disk']['events']:,} events); {big['disk']['bytes_per_event']:,} (the population of {big['population']['persons']:,} persons, {big['disk']['events']:,} events) | {ok(inproc['disk']['bytes_per_event'] <= 200)} |
| ≤ 300 bytes of memory per person | {memory_per_person:,.0f} (RSS holding {big['population']['persons']:,} persons; peak of the whole run {big['peak_rss_bytes'] / big['population']['persons']:,.0f}) | {ok(memory_per_person <= 300)} |

## Profiles and next steps, target by target (2026-12-04)

`perf record -e cpu-clock -g` of the code this page measures, on this machine, each run on its
own; the shares are of the samples of the process named.

- **Bulk in process** (`gongji bench --persons 100000 --ops 1000000 --batch 8190 --clients 2`,
  168,765 settlements/s under perf): bounded by the writer thread, which decides, applies and
  seals every event on one core; it took 46 % of the whole run's samples against 5 % for the
  committer (1,024-event commits of 1.5 ms). In the writer: `memmove` 7.6 % (events and
  records moved by value), `Projections::apply` 6.5 %, `Persons::number` (an id's hash
  lookup, a cache miss at 100,000 persons) 5.2 %, the settlements `IndexMap` 3.4 %, SHA-256
  of the chain 3.4 %, `apply_charge` 3.2 %, the idempotency index 3.7 %. Next: seal (hash)
  on the committer instead of the writer, events carry person numbers once decided so apply
  looks nothing up, settlement ids interned to numbers like persons.
- **HTTP bulk** (`/v1/batch` of 8,192, 40,830 settlements/s under perf): bounded by the tokio
  workers (40 % of the server's samples; the writer 9.5 %): besides the typed command, each
  item's body is parsed into a `serde_json::Value` (a `BTreeMap` per object, keys sorted) and
  serialized again for its idempotency digest, and each answer is built as a `Value` before
  the response is serialized (`SerializeMap::serialize_entry`, `BTreeMap` inserts and drops,
  hex); 10 % of their samples are the kernel waking tasks. Next: the digest's canonical JSON
  written straight from the parsed body without a `Value` tree, answers written from typed
  structs into the response buffer.
- **Closed loop, 64 clients in process** (0.45× raw sled in this run): group commits of
  {mix['events_per_commit']:.0f} events took {mix['commit_ms_mean']:.2f} ms each against the raw limit's
  {1000 * raw['batch'] / raw['events_per_second']:.2f} ms for the same bytes, because on two cores the committer's `flush`
  and fsync share the CPU with the 64 client threads (31 % of the samples of a profile at
  20,000 persons), the writer (23 %) and the applier (9 %); the committer is busy about 80 % of
  the wall time, so each commit takes in the clients answered by the one before, about half
  of them. Next: less CPU a request (the writer items above), so the commit runs nearer its
  raw time.
- **wrk, 64 connections** ({wrk['requests_per_second']:,.0f}/s here, p99 {wrk['latency_ms']['p99']:.1f} ms; 12,194/s under perf):
  wrk shares the two cores; of the server's samples the tokio workers take 52 % (hyper,
  axum, JSON, the request digest), the committer 12 %, the writer 11 %, the snapshot thread
  2 %. The p99 is within the target; the rate is bounded by the CPU a request costs on the
  HTTP side. Next: the same typed parsing and answer writing as HTTP bulk.
- **Replay** ({inproc['replay']['events_per_second']:,.0f} events/s in this run; `gongji replay` of the same ledger on
  its own: 1,315,959 events in 3.4 s including start and output, and 571,404 events/s in
  `gongji bench --keep` minutes later, so this run's figure was lowered by what ran beside
  it): `Projections::apply` 9.3 %, `Persons::number` 7.7 %, `memmove` 6.9 %, the idempotency
  index 6.2 %, the settlements `IndexMap` 5.6 %, `apply_charge` 5.0 %, `Arc::make_mut` 6 %;
  reading sled is under 3 %. Next: the same as bulk (no id lookups in apply, settlements
  interned, events moved not copied), then apply split across the two cores by
  projection.
- **Memory** ({memory_per_person:,.0f} bytes a person): see "Memory" below: the state's records
  and ids about 210 bytes a person, histories 76, the idempotency index 71. Next: accounts
  apart from the person record, a binding's optional fields packed.
- **Disk** ({inproc['disk']['bytes_per_event']:,} bytes an event in the mix's ledger): of 430 MB for 1,315,959
  events, the segments' values are 238 MB (181 bytes an event: about 145 of canonical bytes,
  4 of length and 32 of hash) and sled's file holds 1.8× that (each leaf of the log is
  rewritten whole as segments are added to it, and old versions wait for sled's segment
  cleaner). Next: the log's segments in files the ledger appends itself, with sled holding
  only an index of them, which brings disk to the values' 181 bytes; then the hash kept
  only at the end of a segment, the others recomputed when one event is proved.
- **The peer** (4.2× in process): the closed-loop figure above over the peer's; it rises
  with the closed loop.

## What limits the rest

- **One state** (since 2026-12-03): the writer applies each event once, to the one state the
  readers share, and the readers see it only up to the durable head (ARCHITECTURE.md).
  Before, the writer held its own copy of the state and the applier applied every event a
  second time to the readers' copy, and each snapshot replayed the log into a third. In
  quick runs on this machine (`gongji bench --persons 20000 --ops 200000`, one binary
  before and one after, two runs each) this and the changes beside it (maps from an id are
  hash-indexed `IndexMap`s; money is integer fen inside; records are shared `Arc`s) took
  bulk from 68,100–68,900 to 71,600–88,100 settlements/s, replay from 444,000–494,000 to
  933,000–1,027,000 events/s (the final binary) and the engine's RSS after the mix from
  386–416 MiB to 218–236 MiB; the closed loop with 64 clients stayed about where it was
  (19,500–20,600 against 20,900–22,300 settlements/s).
- **The idempotency index is in the state** (since 2026-12-04): each request that wrote
  events is a 64-bit fingerprint of its id and the seq of its first event, 16 bytes, applied
  with the events, stored in snapshots and rebuilt by replay; a candidate is confirmed by its
  first event's `request_id` in the log. Before, each request id was a key of its own in a sled
  tree, written by the answering thread after the commit: in a bulk run that thread took 30 %
  of the CPU. Quick runs (20,000 persons, 200,000 operations): bulk from 80,498 to 182,911
  settlements/s, the closed loop from 21,823 to 28,034 (0.25× to 0.46× raw sled). Then two
  fixes of the commit's fsync pass, which read the metadata of every blob file of sled at
  every commit and pruned what it had synced in time quadratic in their number (every
  1,024-event segment is a blob): at 100,000 persons and 1,000,000 settlements in batches of
  8,190, commits went from 12.2 ms to 3.0–3.5 ms and bulk from 76,119 to 157,000–164,000
  settlements/s.
- **Throughput in-process**: group commit is a pipeline of three threads (decide, apply and
  seal; write, flush and fsync; answer). With {mix['clients']} clients that each
  wait for their answer, nearly all of them ride in the same batch ({mix['events_per_commit']:.0f} events), so the
  stages mostly take turns: a round trip (p50 {mix['latency_ms']['p50']:.1f} ms) is the commit ({mix['commit_ms_mean']:.2f} ms here,
  where raw sled alone writes the same batch in {1000 * raw['batch'] / raw['events_per_second']:.2f} ms), then waking the
  callers, each of which runs at once on the same two cores. Readers share the state's lock
  with the writer, which holds it only to look the request id up in the state's index, decide
  and apply (the digest is done before it).
- **HTTP**: the load generator is one tokio thread driving {http['mix']['clients']} keep-alive connections.
  Every client waits for its answer, so the figure is the round trip, as in-process, plus
  HTTP. In a `perf record` of `gongji serve` under wrk (64 connections) the tokio workers
  took 54 % of the samples and the pipeline's three threads 25 %; the top symbols are the
  kernel's context switches and wake-ups (`finish_task_switch` 15 %,
  `_raw_spin_unlock_irqrestore` 9 %): each request crosses from a tokio worker to the writer
  and back through the committer and the answering thread, and sled's seven IO threads took
  another 17 % writing. Fewer hand-offs per request is what would move it.
- **Bulk** (batches of 8,190 in process, of 8,192 over `/v1/batch`): a batch is decided in
  one place in the queue and committed in group commits of up to 1,024 events, so the
  commits are full ({bulk['events_per_commit']:.0f} events, {bulk['commit_ms_mean']:.1f} ms each) and the pipeline never waits for
  callers. What bounds it is CPU per event, in the writer. In a `perf record -e cpu-clock` of
  an in-process bulk run (100,000 persons, 1,000,000 settlements, before the blob fix) the
  writer took 47 % of the samples: hash lookups of string ids in maps of 100,000 persons and a
  million settlements (`IndexMap::get_index_of` 9 %, with their cache misses), inserting each
  settlement (2.5 %), `Projections::apply` 6 %, the request index 5 % (a probe and an insert,
  each a cache miss), SHA-256 2.4 %; the bench's own threads (building and submitting the
  requests) 27 %, the committer 19 % (half of it reading the metadata of sled's blob files,
  since settled) and the answering thread 4 %. Next: fixed-size records with ids interned to
  integers, so that a lookup is an index and a record a few cache lines.
- **HTTP bulk** (`/v1/batch`): the engine is not what bounds it. In a `perf record` of
  `gongji serve` taking batches of 8,192 (10,000 persons) the tokio workers took 66 % of the
  samples: per item, reading the body twice (into a JSON value for the digest, then strictly
  into the request) and the canonical JSON of the digest 16 %, the answer built as a
  `serde_json::Value` tree 6 % and the response serialized from it 4 %, matching each item's
  path to its route 3 %, the batch's own parse 2 %; the publisher, rendering every event's
  JSON for NATS, 16 %. The snapshot thread took 14 % before it was made to rest between
  snapshots. The writer took 14 %, the committer 5 %. Next: answers and NATS bodies written
  straight from the types, without `Value` trees, and one parse per item.
- **Tail latency** (wrk, 64 connections): a snapshot is now a shallow copy of the one state
  taken under its read lock once all of it is durable (persons, bindings, settlements and
  histories are `Arc`s), then serialized and written on its own thread. On a fresh ledger
  (1,000 persons, `wrk -t2 -c64 -d20s`, publisher on) the writer waited 2–11 ms for each
  copy; with the default `--snapshot-every` (100,000) wrk measured 13,100 settlements/s at p99
  16.9 ms, and with `--snapshot-every 20000` (a snapshot every 1.7 s) 11,333/s at p99
  29.7 ms: what was left of the snapshot's cost was writing the file beside the ledger's
  fsync on one disk, not the copy. Since then a snapshot is written in pieces of 1 MiB, each
  synced before the next, 5 ms apart: with `--snapshot-every 20000`, two runs each, p99 went
  from 45.9 and 41.5 ms to 16.3 and 17.0 ms (p999 from 147.7 and 96.1 ms to 20.4 and
  53.0 ms) at the same 9,700–10,100 settlements/s. This run's wrk ({wrk['latency_ms']['p99']:.1f} ms) runs on a
  ledger that already holds the HTTP mix, so it crosses snapshot boundaries.
- **Replay**: events are binary (borsh payloads, ≈ {inproc['disk']['bytes_per_event']:,} bytes per event on disk);
  reading and decoding run in parallel a chunk ahead of the apply, which is serial, the same
  per-event code the writer runs. At 20,000 persons it is near a million events/s; here the
  state is larger (100,000 persons and the settlements of the mix), and the apply's hash
  lookups miss the cache more often. In a `perf record` of `gongji rebuild` of such a ledger
  (1.3 million events) the serial apply was 29 % of the samples: 45 % of that was
  `apply_charge` (each settlement's draws and explanation copied out of the event into a
  record of its own, its map entry, its bindings' charges) and 13 % the request index.
  Storing the snapshot at the end took 46 %, more than the replay: the snapshot form
  (MessagePack with field names) is the next thing to make compact. Next for the apply:
  events moved into the state instead of copied, and fixed-size records. Of all the figures
  here, replay moves most from run to run on this machine: the same binary, the same size
  (100,000 persons, 1,000,000 operations), measured 173,339 events/s in the run this page
  reports and 602,000–659,000 in runs of its own minutes later; back to back, the binary
  before the request index moved into the state and the one after measured 826,850 and
  659,239 (the index and each event's request id cost about a fifth).
- **Memory** (since 2026-12-04): persons are interned and persons and bindings are
  fixed-size records (88 and 120 bytes) in chunks shared with snapshots; a binding names
  its persons by number and each person's bindings are lists threaded through them. At
  1,000,000 persons this took the engine's RSS from 1,066 to 775 MB (one binary before and
  after, `gongji bench --persons 1000000 --ops 1000`). Then heaptrack at 1,000,000 persons
  (a build on the system allocator) found sled keeping 295 MB of the log's segment values
  in memory, 118 bytes per event, far past its 64 MiB page cache (and no less with 16 MiB):
  a page whose node is stored as a blob (larger than a quarter of sled's 512 KiB log
  segment, as a 1,024-event segment was) counts in sled's cache by the size of its pointer,
  so it was never evicted and memory grew with the log. Since 2026-12-04 a commit's events
  are cut into segments of at most 6 KiB, so no page of the log is a blob: the engine's RSS
  at 1,000,000 persons fell from 778 to 518 MB, and bulk commits of 1,024 events from
  2.5–2.9 ms to 1.6 ms (no blob file to create and fsync with its directory). The state
  itself holds about 210 bytes a person in records and ids, 76 in balance histories and
  `recorded_at`, and 71 in the idempotency index (16 bytes a request, 2.5 requests a
  person here, in tables at most seven-eighths full). Next: accounts apart from the person
  record (a resident carries 40 bytes of empty account) and the optional fields of a
  binding packed.
- **The peer**: cqrs-es + postgres-es commits each command in its own PostgreSQL
  transaction (one fsync of the WAL each, shared by concurrent commits through PostgreSQL's
  own group commit), so its figure is set by commit latency, not by logic.
- **Run to run**: this virtual machine's speed varies (the raw sled limit moves by ±10–20 %
  between runs minutes apart, and by more than a third between days); the ratios, taken
  within one run, are the figures to compare.
""")
