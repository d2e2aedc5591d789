-- wrk script: every request is a new settlement (a request_id and settlement_id never sent
-- before), by the institution H21010000001 for a beneficiary drawn from a population the
-- caller registered beforehand. Arguments after `--`: a run prefix and the population's size;
-- beneficiaries are `{prefix}P{n}` for n in [0, size).
--   wrk -t2 -c64 -d20s -s scripts/wrk/settlements.lua http://127.0.0.1:8080 -- run1 1000
-- At the end it prints one JSON line: requests, statuses other than 201, latency percentiles.

local threads = {}

function setup(thread)
  thread:set("number", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  prefix = args[1] or "wrk"
  size = tonumber(args[2] or "1000")
  sent = 0
  created = 0
  other = 0
  math.randomseed(number * 7919)
  headers = {
    ["Authorization"] = "Bearer h1-secret",
    ["Content-Type"] = "application/json",
  }
end

function request()
  sent = sent + 1
  local id = string.format("%s-t%d-%d", prefix, number, sent)
  local body = string.format(
    '{"request_id":"%s","settlement_id":"S%s","institution":"H21010000001","beneficiary":"%sP%d",' ..
    '"category":"pharmacy","amount":"%d.%02d"}',
    id, id, prefix, math.random(0, size - 1), math.random(5, 150), math.random(0, 99))
  return wrk.format("POST", "/v1/settlements", headers, body)
end

function response(status, headers, body)
  if status == 201 then
    created = created + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local created_total, other_total = 0, 0
  for _, thread in ipairs(threads) do
    created_total = created_total + thread:get("created")
    other_total = other_total + thread:get("other")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"created":%d,"other_status":%d,"socket_errors":%d,"seconds":%.3f,' ..
    '"requests_per_second":%.0f,"latency_ms":{"p50":%.3f,"p90":%.3f,"p99":%.3f,"p999":%.3f,"max":%.3f}}\n',
    summary.requests, created_total, other_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, latency.max / 1000))
end
