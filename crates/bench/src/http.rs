//! `gongji bench --url`: the same mix and bulk runs against a running service over HTTP/1.1,
//! from a hyper client of its own.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::json;

use crate::{is_employee, latency_ms, BenchArgs, XorShift};

/// Over HTTP: `--url` of a running `gongji serve` whose rules are deploy/examples/rules.json
/// (region 210100) and whose tokens are deploy/examples/tokens.json.
#[derive(Debug, Clone)]
pub struct HttpTarget {
    pub url: String,
    pub operator: String,
    pub channel: String,
    pub institution: String,
    pub institution_id: String,
}

/// One keep-alive HTTP/1.1 connection of the load generator, driven by a single-threaded
/// tokio runtime: the clients cost the machine little CPU beside the service they measure.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    authority: String,
}

impl Connection {
    async fn open(target: &HttpTarget) -> anyhow::Result<Connection> {
        let authority = target.url.strip_prefix("http://").context("the URL is http://host:port")?.to_owned();
        let stream = tokio::net::TcpStream::connect(&authority).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender, authority })
    }

    /// The answer's status and JSON body; status 0 for a transport error.
    async fn call(
        &mut self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        use http_body_util::BodyExt;
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json values serialize")).unwrap_or_default();
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, &self.authority)
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(bytes)))
            .expect("a valid request");
        let answer = async {
            self.sender.ready().await?;
            let response = self.sender.send_request(request).await?;
            let status = response.status().as_u16();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null)))
        };
        answer.await.unwrap_or_else(|error| (0, json!({"transport": error.to_string()})))
    }
}

/// A single-threaded runtime for the load generator's clients.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// What the HTTP clients measured, added up: every latency, the settlements, the errors.
type ClientTally = (Vec<u64>, u64, u64);

/// Waits for every client task and adds up what they measured.
fn join_clients(
    runtime: &tokio::runtime::Runtime,
    mut tasks: tokio::task::JoinSet<anyhow::Result<ClientTally>>,
) -> anyhow::Result<ClientTally> {
    runtime.block_on(async {
        let (mut latencies, mut settlements, mut errors) = (Vec::new(), 0u64, 0u64);
        while let Some(done) = tasks.join_next().await {
            let (l, s, e) = done??;
            latencies.extend(l);
            settlements += s;
            errors += e;
        }
        anyhow::Ok((latencies, settlements, errors))
    })
}

/// Runs `jobs` over `clients` keep-alive connections.
fn http_parallel(
    target: &HttpTarget,
    clients: u64,
    jobs: Vec<(String, &'static str, String, serde_json::Value)>,
) -> anyhow::Result<()> {
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    client_runtime()?.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let (jobs, target) = (jobs.clone(), target.clone());
            tasks.spawn(async move {
                let mut connection = Connection::open(&target).await?;
                loop {
                    let Some((token, method, path, body)) = jobs.lock().expect("jobs").pop() else { break };
                    connection.call(&token, method, &path, Some(body)).await;
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
        Ok(())
    })
}

/// Registers `--persons` persons of region 210100 under run `run` (about a third employees,
/// credited 5,000.00, each bound to the person three after as a child); the seconds it took.
fn http_population(args: &BenchArgs, target: &HttpTarget, run: &str) -> anyhow::Result<f64> {
    let id = |n: u64| format!("{run}-{n}");
    let person = |n: u64| format!("B{run}P{n}");
    let started = Instant::now();
    let mut jobs = Vec::new();
    for n in 0..args.persons {
        let scheme = if is_employee(n) { "employee" } else { "resident" };
        jobs.push((
            target.operator.clone(),
            "POST",
            "/v1/persons".to_owned(),
            json!({"request_id": id(n), "person_id": person(n), "region": "210100", "scheme": scheme}),
        ));
    }
    http_parallel(target, args.clients, jobs)?;
    let mut jobs = Vec::new();
    for n in (0..args.persons).filter(|n| is_employee(*n)) {
        jobs.push((target.operator.clone(), "POST", format!("/v1/accounts/{}/credits", person(n)),
            json!({"request_id": format!("{}-c", id(n)), "amount": "5000.00", "bucket": "historic", "reason": "allocation"})));
        if n + 3 < args.persons {
            jobs.push((target.channel.clone(), "POST", "/v1/bindings".to_owned(),
                json!({"request_id": format!("{}-b", id(n)), "authorizer": person(n), "beneficiary": person(n + 3), "relation": "child"})));
        }
    }
    http_parallel(target, args.clients, jobs)?;
    Ok(started.elapsed().as_secs_f64())
}

pub fn run_http(args: &BenchArgs, target: HttpTarget) -> anyhow::Result<ExitCode> {
    let run = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_micros() % 0xffff_ffff
    );
    let population_seconds = http_population(args, &target, &run)?;

    if let Some(batch) = args.batch {
        return run_http_bulk(args, &target, batch, &run, population_seconds);
    }
    let bar = indicatif::ProgressBar::new(args.ops);
    let per_client = args.ops / args.clients.max(1);
    let started = Instant::now();
    let runtime = client_runtime()?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..args.clients {
        let (target, bar, run) = (target.clone(), bar.clone(), run.clone());
        let persons = args.persons;
        tasks.spawn_on(async move {
                let mut connection = Connection::open(&target).await?;
                let mut random = XorShift(0x2545_F491_4F6C_DD1D ^ (client + 1).wrapping_mul(0x9E37_79B9));
                let (mut latencies, mut settlements, mut errors) = (Vec::new(), 0u64, 0u64);
                let mut settled: Vec<String> = Vec::new();
                for n in 0..per_client {
                    let rid = format!("{run}-m{client}-{n}");
                    let who = format!("B{run}P{}", random.below(persons));
                    let roll = random.below(100);
                    let amount = format!("{}.{:02}", 5 + random.below(150), random.below(100));
                    let settlement = |mode: &str| json!({"request_id": rid, "settlement_id": format!("S{rid}"),
                        "institution": target.institution_id, "beneficiary": who, "category": "pharmacy",
                        "amount": amount, "mode": mode});
                    let (token, method, path, body) = match roll {
                        0..=69 => (&target.institution, "POST", "/v1/settlements".to_owned(), Some(settlement("settle"))),
                        70..=79 if !settled.is_empty() => {
                            let s = &settled[random.below(settled.len() as u64) as usize];
                            (&target.institution, "POST", format!("/v1/settlements/{s}/refunds"),
                                Some(json!({"request_id": rid, "refund_id": format!("F{rid}"), "amount": "1.00", "reason": "returned"})))
                        }
                        80..=89 => (&target.institution, "POST", "/v1/settlements".to_owned(), Some(settlement("hold"))),
                        90..=94 => (&target.operator, "POST", format!("/v1/accounts/B{run}P{}/credits", random.below(persons / 9) * 9),
                            Some(json!({"request_id": rid, "amount": "10.00", "bucket": "current", "reason": "allocation"}))),
                        _ => (&target.operator, "GET", format!("/v1/accounts/{who}"), None),
                    };
                    let t = Instant::now();
                    let (status, answer) = connection.call(token, method, &path, body).await;
                    latencies.push(t.elapsed().as_micros() as u64);
                    if status == 0 || status >= 500 {
                        errors += 1;
                    }
                    if status == 201 && path == "/v1/settlements" {
                        settlements += 1;
                        let id = answer["settlement_id"].as_str().unwrap_or_default().to_owned();
                        if answer["status"] == "held" {
                            let action = if random.below(3) == 0 { "void" } else { "capture" };
                            let t = Instant::now();
                            connection.call(&target.institution, "POST", &format!("/v1/settlements/{id}/{action}"),
                                Some(json!({"request_id": format!("{rid}-{action}")}))).await;
                            latencies.push(t.elapsed().as_micros() as u64);
                        } else {
                            settled.push(id);
                        }
                    }
                    bar.inc(1);
                }
                anyhow::Ok((latencies, settlements, errors))
            }, runtime.handle());
    }
    let (mut latencies, settlements, errors) = join_clients(&runtime, tasks)?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    latencies.sort_unstable();
    let report = json!({
        "mode": "http",
        "url": target.url,
        "population": {"persons": args.persons, "seconds": population_seconds},
        "mix": {
            "clients": args.clients,
            "requests": latencies.len(),
            "settlements": settlements,
            "errors_5xx_or_transport": errors,
            "seconds": seconds,
            "requests_per_second": (latencies.len() as f64 / seconds).round(),
            "settlements_per_second": (settlements as f64 / seconds).round(),
            "latency_ms": latency_ms(&latencies),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// Bulk over HTTP: `--ops` settlements in `POST /v1/batch` requests of `batch` items, over
/// `--clients` keep-alive connections each with one batch in flight.
fn run_http_bulk(
    args: &BenchArgs,
    target: &HttpTarget,
    batch: u64,
    run: &str,
    population_seconds: f64,
) -> anyhow::Result<ExitCode> {
    let bar = indicatif::ProgressBar::new(args.ops);
    let remaining = Arc::new(AtomicU64::new(args.ops));
    let started = Instant::now();
    let runtime = client_runtime()?;
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..args.clients.max(1) {
        let (target, bar, run, remaining) = (target.clone(), bar.clone(), run.to_owned(), remaining.clone());
        let persons = args.persons;
        tasks.spawn_on(
            async move {
                let mut connection = Connection::open(&target).await?;
                let mut random = XorShift(0x5851_F42D_4C95_7F2D ^ (client + 1).wrapping_mul(0x9E37_79B9));
                let (mut latencies, mut settlements, mut errors, mut sequence) =
                    (Vec::new(), 0u64, 0u64, 0u64);
                while let Ok(left) = remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                    (left > 0).then(|| left - left.min(batch))
                }) {
                    let count = left.min(batch);
                    let items: Vec<serde_json::Value> = (0..count)
                        .map(|_| {
                            sequence += 1;
                            let rid = format!("{run}-k{client}-{sequence}");
                            let amount = format!("{}.{:02}", 5 + random.below(150), random.below(100));
                            json!({"method": "POST", "path": "/v1/settlements", "body": {
                                "request_id": rid, "settlement_id": format!("S{rid}"),
                                "institution": target.institution_id,
                                "beneficiary": format!("B{run}P{}", random.below(persons)),
                                "category": "pharmacy", "amount": amount}})
                        })
                        .collect();
                    let t = Instant::now();
                    let (status, answer) = connection
                        .call(&target.institution, "POST", "/v1/batch", Some(json!({"requests": items})))
                        .await;
                    latencies.push(t.elapsed().as_micros() as u64);
                    let results = answer["results"].as_array().map(Vec::as_slice).unwrap_or_default();
                    if status != 200 || results.len() as u64 != count {
                        errors += count;
                    }
                    for result in results {
                        match result["status"].as_u64() {
                            Some(201) => settlements += 1,
                            Some(status) if status >= 500 => errors += 1,
                            _ => {}
                        }
                    }
                    bar.inc(count);
                }
                anyhow::Ok((latencies, settlements, errors))
            },
            runtime.handle(),
        );
    }
    let (mut latencies, settlements, errors) = join_clients(&runtime, tasks)?;
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    latencies.sort_unstable();
    let report = json!({
        "mode": "http",
        "url": target.url,
        "population": {"persons": args.persons, "seconds": population_seconds},
        "bulk": {
            "clients": args.clients,
            "batch": batch,
            "batches": latencies.len(),
            "settlements": settlements,
            "errors_5xx_or_transport": errors,
            "seconds": seconds,
            "settlements_per_second": (settlements as f64 / seconds).round(),
            "latency_ms": latency_ms(&latencies),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
