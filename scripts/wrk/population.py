"""Registers the population scripts/wrk/settlements.lua settles for, through POST /v1/batch:
the pharmacy H21010000001 (if it is not there yet), persons {prefix}P0 .. {prefix}P{size-1} in
region 210100 (every third an employee with 5000.00, who binds the next person as a child).
Arguments: the service's URL, the prefix, the size. Fails on any item that is not a success."""
import json
import sys
import urllib.request

url, prefix, size = sys.argv[1], sys.argv[2], int(sys.argv[3])


def batch(token, items, allowed=()):
    request = urllib.request.Request(url + "/v1/batch", data=json.dumps({"requests": items}).encode(),
                                     headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    results = json.load(urllib.request.urlopen(request))["results"]
    bad = [r for r in results if r["status"] >= 300 and r["body"]["error"]["code"] not in allowed]
    if bad:
        sys.exit(f"population refused: {bad[:3]}")


persons, credits, bindings = [], [], []
for n in range(size):
    employee = n % 3 == 0
    persons.append({"method": "POST", "path": "/v1/persons", "body": {
        "request_id": f"{prefix}-p{n}", "person_id": f"{prefix}P{n}", "region": "210100",
        "scheme": "employee" if employee else "resident"}})
    if employee:
        credits.append({"method": "POST", "path": f"/v1/accounts/{prefix}P{n}/credits", "body": {
            "request_id": f"{prefix}-c{n}", "amount": "5000.00", "bucket": "historic", "reason": "allocation"}})
        if n + 1 < size:
            bindings.append({"method": "POST", "path": "/v1/bindings", "body": {
                "request_id": f"{prefix}-b{n}", "authorizer": f"{prefix}P{n}", "beneficiary": f"{prefix}P{n + 1}",
                "relation": "child"}})
batch("op-secret", [{"method": "POST", "path": "/v1/institutions", "body": {
    "request_id": f"{prefix}-inst", "institution_id": "H21010000001", "region": "210100", "kind": "pharmacy",
    "name": "Bench pharmacy"}}], allowed=("already_exists",))
for start in range(0, len(persons), 8192):
    batch("op-secret", persons[start:start + 8192])
for start in range(0, len(credits), 8192):
    batch("op-secret", credits[start:start + 8192])
for start in range(0, len(bindings), 8192):
    batch("app-secret", bindings[start:start + 8192])
