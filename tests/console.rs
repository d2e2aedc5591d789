//! The web console (`/console/`) in a real browser: headless chromium driven through
//! chromedriver (WebDriver) against the real binary, every figure checked against the API.
//! Each test saves screenshots under `target/console-screenshots/`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use support::{Home, Service, AUDITOR, CHANNEL, H1, H2, OPERATOR};

/// The hospital of the token H2.
const HOSPITAL: &str = "H21010000002";

/// How long a page may take to show what a test waits for.
const WAIT: Duration = Duration::from_secs(30);

/// chromedriver on a free loopback port, with one headless chromium session.
struct Browser {
    driver: Child,
    client: Client,
    base: String,
}

impl Browser {
    async fn open(service: &Service) -> Browser {
        // chromedriver picks a free port itself (`--port=0`) and says which: no other process
        // can take it between a pick and the bind.
        let mut driver = Command::new("chromedriver")
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian's chromium-driver; scripts/test.sh installs it)");
        let mut lines = BufReader::new(driver.stdout.take().expect("piped")).lines();
        let port: u16 = loop {
            let line = lines.next().expect("chromedriver says where it listens").expect("a line");
            if let Some(rest) = line.split("started successfully on port ").nth(1) {
                break rest.trim_end_matches('.').parse().expect("a port");
            }
        };
        // Whatever else it prints is read, so that it never waits on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1600", "--lang=zh-CN", "--no-first-run", "--disable-extensions"],
            },
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        let url = format!("http://127.0.0.1:{port}");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&url)
            .await
            .unwrap_or_else(|error| panic!("no WebDriver session on {url}: {error}"));
        Browser { driver, client, base: service.base.clone() }
    }

    /// Opens `/console/` (through the redirect from `/`) at the view `hash`.
    async fn visit(&self, hash: &str) {
        self.client.goto(&format!("{}/console/{hash}", self.base)).await.expect("the page opens");
    }

    async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
    }

    async fn count(&self, css: &str) -> usize {
        self.client.find_all(Locator::Css(css)).await.expect("a query").len()
    }

    /// The attribute `attribute` of every element `css` finds, in document order.
    async fn attrs(&self, css: &str, attribute: &str) -> Vec<String> {
        let mut values = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.expect("a query") {
            values.push(element.attr(attribute).await.expect("an attribute").unwrap_or_default());
        }
        values
    }

    /// The text of every element `css` finds, in document order.
    async fn texts(&self, css: &str) -> Vec<String> {
        let mut texts = Vec::new();
        for element in self.client.find_all(Locator::Css(css)).await.expect("a query") {
            texts.push(element.text().await.expect("its text"));
        }
        texts
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("its text")
    }

    /// Waits until the element `css` exists and `holds` its text; returns the text.
    async fn text_until(&self, css: &str, holds: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if holds(&text) {
                        return text;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "{css} never held what was awaited; it reads {text:?}"
                    );
                }
            }
            assert!(Instant::now() < deadline, "{css} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the element `css` has `attribute` equal to `value`.
    async fn attr_until(&self, css: &str, attribute: &str, value: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if element.attr(attribute).await.ok().flatten().as_deref() == Some(value) {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{css} never had {attribute}={value:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Signs in with `token` from the sign-in form, with the keyboard only: the token typed,
    /// then Enter.
    async fn sign_in(&self, token: &str) {
        self.visit("").await;
        let field = self.find("#token").await;
        field.send_keys(&format!("{token}{}", Key::Enter)).await.expect("typed");
    }

    /// The controls of the page that have no name a screen reader could say (no label, no
    /// aria-label, no text): none is expected.
    async fn unlabelled(&self) -> Value {
        let script = "return [...document.querySelectorAll('input, select, button, progress, [role=meter]')] \
             .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()) \
             .map((e) => e.outerHTML.slice(0, 120));";
        self.client.execute(script, vec![]).await.expect("the script runs")
    }

    /// Signs in with `token` and waits until the console shows it as `role`.
    async fn sign_in_as(&self, token: &str, role: &str) {
        self.sign_in(token).await;
        self.attr_until("#who", "data-role", role).await;
    }

    /// Signs out and waits for the sign-in form.
    async fn sign_out(&self) {
        self.find("#signout").await.click().await.expect("clicked");
        self.find("#token").await;
    }

    /// Saves a screenshot as `target/console-screenshots/{name}.png`.
    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshots();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    async fn close(mut self) {
        self.client.clone().close().await.expect("the session ends");
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .expect("chromium is installed (Debian's chromium; scripts/test.sh installs it)")
}

fn screenshots() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("console-screenshots")
}

/// A ledger with a history to look at: region 210100 (rules v1, then v2 with a rolling limit
/// window), the pharmacy H21010000001, employees P1 and P2 bound to the employee B (P1's
/// binding with a monthly limit of 30.00), and the settlement S1 of 100.00 for B, refunded
/// 15.00: B's own 10.00 runs out, P1 pays up to its limit, P2 pays all it has, 40.00 is out
/// of pocket; and the hospital H21010000002's settlement S2 of 5.00 for B.
fn seed(service: &Service) {
    support::region_with_institutions(service, json!({}), &[support::PHARMACY, (HOSPITAL, "hospital")]);
    let ok = |(status, answer): (u16, Value)| {
        assert!((200..300).contains(&status), "{answer}");
        answer
    };
    for person in ["P1", "P2", "B"] {
        let body = json!({"request_id": format!("person-{person}"), "person_id": person, "region": "210100",
            "scheme": "employee", "name": format!("person {person}")});
        ok(service.post(OPERATOR, "/v1/persons", body));
    }
    for (person, amount) in [("P1", "500.00"), ("P2", "20.00"), ("B", "10.00")] {
        let body = json!({"request_id": format!("credit-{person}"), "amount": amount, "bucket": "current",
            "reason": "monthly allocation"});
        ok(service.post(OPERATOR, &format!("/v1/accounts/{person}/credits"), body));
    }
    for (authorizer, relation, priority, monthly) in
        [("P1", "child", 1, json!("30.00")), ("P2", "spouse", 2, json!(null))]
    {
        let body = json!({"request_id": format!("bind-{authorizer}"), "authorizer": authorizer, "beneficiary": "B",
            "relation": relation});
        let binding =
            ok(service.post(CHANNEL, "/v1/bindings", body))["binding_id"].as_str().unwrap().to_owned();
        let body = json!({"request_id": format!("authorize-{authorizer}"), "priority": priority,
            "monthly_limit": monthly, "annual_limit": null});
        ok(service.put(CHANNEL, &format!("/v1/bindings/{binding}/authorization"), body));
    }
    let body = json!({"request_id": "settle-S1", "settlement_id": "S1", "institution": "H21010000001",
        "beneficiary": "B", "category": "pharmacy", "amount": "100.00"});
    ok(service.post(H1, "/v1/settlements", body));
    let body = json!({"request_id": "refund-R1", "refund_id": "R1", "amount": "15.00", "reason": "returned medicine"});
    ok(service.post(H1, "/v1/settlements/S1/refunds", body));
    let body = json!({"request_id": "settle-S2", "settlement_id": "S2", "institution": HOSPITAL,
        "beneficiary": "B", "category": "outpatient", "amount": "5.00"});
    ok(service.post(H2, "/v1/settlements", body));
    let rules = json!({"request_id": "rules-210100-v2", "version": 2, "effective_from": "2026-01-01T00:00:00+08:00",
        "limit_window": "rolling", "hold_timeout_minutes": 60});
    ok(service.post(OPERATOR, "/v1/regions/210100/rules", rules));
}

/// Starts the service with the seeded ledger and a browser on it.
async fn seeded() -> (Home, Service, Browser) {
    let home = Home::new();
    let service = home.start();
    seed(&service);
    let browser = Browser::open(&service).await;
    (home, service, browser)
}

// Proves sign-in, with the keyboard: `/` leads to the console; each role's token opens exactly
// the views its role may read, and is kept in sessionStorage (and nowhere else); a wrong token
// is refused and not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_signs_in_to_its_views_and_a_wrong_token_is_refused() {
    let home = Home::new();
    let service = home.start();
    let browser = Browser::open(&service).await;
    browser.client.goto(&format!("{}/", service.base)).await.unwrap();
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.path(), "/console/", "/ redirects to the console");

    browser.sign_in("not-a-token").await;
    let refusal = browser.text("#signin-error").await;
    assert_eq!(refusal, "令牌无效，已拒绝。");
    assert_eq!(browser.count("#nav a").await, 0, "no view opens");
    let kept = browser.client.execute("return sessionStorage.getItem('gongji.token')", vec![]).await.unwrap();
    assert_eq!(kept, Value::Null, "a refused token is not kept");
    browser.screenshot("signin-refused").await;

    let roles: [(&str, &str, &[&str]); 4] = [
        (OPERATOR, "operator", &["account", "settlement", "audit", "operations"]),
        (CHANNEL, "channel", &["account"]),
        (H1, "institution", &["settlement"]),
        (AUDITOR, "auditor", &["account", "settlement", "audit", "operations"]),
    ];
    for (token, role, views) in roles {
        browser.sign_in_as(token, role).await;
        assert_eq!(browser.attrs("#nav a", "data-view").await, views, "{role} sees its views");
        let kept =
            browser.client.execute("return sessionStorage.getItem('gongji.token')", vec![]).await.unwrap();
        assert_eq!(kept, json!(token), "the token is kept for the session");
        let stored =
            browser.client.execute("return localStorage.getItem('gongji.token')", vec![]).await.unwrap();
        assert_eq!(stored, Value::Null, "and only for the session");
        browser.sign_out().await;
    }
    browser.close().await;
}

/// A value of `/metrics` (the sum over its labels), once it is there.
fn metric(service: &Service, name: &str) -> Option<f64> {
    let (status, text) = service.call("GET", None, "/metrics", None);
    assert_eq!(status, 200);
    let lines = text.as_str().expect("the metrics as text").lines();
    let values: Vec<f64> = lines
        .filter(|line| line.split(['{', ' ']).next() == Some(name))
        .map(|line| line.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Waits until `/metrics` gives `name` the value `value`.
fn wait_for_metric(service: &Service, name: &str, value: f64) {
    let deadline = Instant::now() + WAIT;
    while metric(service, name) != Some(value) {
        assert!(Instant::now() < deadline, "{name} never reached {value}: {:?}", metric(service, name));
        std::thread::sleep(Duration::from_millis(50));
    }
}

// Proves the operations view says whether the publisher is connected to NATS, as /metrics
// does: connected to a running nats-server, with nothing left to publish; not connected once
// the server has stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_view_says_whether_nats_is_connected() {
    let mut nats = support::nats::Nats::start();
    let home = Home::new();
    let tokens = home.tokens();
    let service =
        Service::start(&home.data(), &["--tokens", tokens.to_str().unwrap(), "--nats", &nats.url()]);
    seed(&service);
    wait_for_metric(&service, "gongji_publisher_connected", 1.0);
    wait_for_metric(&service, "gongji_publisher_lag_events", 0.0);
    let browser = Browser::open(&service).await;
    browser.sign_in_as(OPERATOR, "operator").await;
    browser.visit("#/operations").await;
    browser.attr_until("#nats", "data-connected", "true").await;
    assert_eq!(browser.text("#nats").await, "已连接");
    assert_eq!(browser.text("#publisher-lag").await, "0");
    let published = metric(&service, "gongji_published_total").expect("published messages");
    assert_eq!(browser.text("#published").await, published.to_string());

    nats.stop();
    wait_for_metric(&service, "gongji_publisher_connected", 0.0);
    browser.find("#publisher-refresh").await.click().await.unwrap();
    browser.attr_until("#nats", "data-connected", "false").await;
    assert!(browser.text("#nats").await.starts_with("未连接"));
    browser.close().await;
}

// Proves the auditor is read-only in the console: no control that writes on any view, no
// rebuild card, while the operator's operations view has them; and every control of every
// view has a name a screen reader can say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_has_no_write_control() {
    let (_home, _service, browser) = seeded().await;
    browser.sign_in_as(AUDITOR, "auditor").await;
    for (hash, loaded) in [
        ("#/account?person=P1", "#balances [data-field=available]"),
        ("#/settlement?id=S1", "#explain li"),
        ("#/audit", "#event-list li"),
        ("#/operations", "#projections table"),
    ] {
        browser.visit(hash).await;
        browser.find(loaded).await;
        assert_eq!(browser.count("[data-write]").await, 0, "{hash}: no control that writes");
        assert_eq!(browser.count("#rebuild").await, 0, "{hash}: no rebuild");
        assert_eq!(browser.unlabelled().await, json!([]), "{hash}: every control is labelled");
    }
    browser.find("#publisher [id=publisher-lag]").await;
    browser.screenshot("operations-auditor").await;
    browser.sign_out().await;
    browser.sign_in_as(OPERATOR, "operator").await;
    browser.visit("#/operations").await;
    browser.find("#rebuild-dry").await;
    assert_eq!(browser.count("[data-write]").await, 3, "the operator's rebuild controls");
    assert_eq!(browser.unlabelled().await, json!([]), "every control is labelled");
    browser.close().await;
}

// Proves the as-of slider and the time picker show the account exactly as the API answers it
// at an earlier point: the first and second entries of P1's history, and a time between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_as_of_slider_shows_an_earlier_balance() {
    let (_home, service, browser) = seeded().await;
    let (status, history) = service.get(AUDITOR, "/v1/accounts/P1/history");
    assert_eq!(status, 200, "{history}");
    let entries = history["entries"].as_array().unwrap().clone();
    assert!(entries.len() >= 3, "registered, credited, settled: {history}");
    let available_at = |seq: u64| {
        let (status, account) = service.get(AUDITOR, &format!("/v1/accounts/P1?as_of_seq={seq}"));
        assert_eq!(status, 200, "{account}");
        format!("¥{}", account["available"].as_str().unwrap())
    };
    browser.sign_in_as(AUDITOR, "auditor").await;
    browser.visit("#/account?person=P1").await;
    let head = history["head_seq"].as_u64().unwrap();
    browser.attr_until("#balances", "data-as-of-seq", &head.to_string()).await;
    let now = browser.text("#balances [data-field=available]").await;
    assert_eq!(now, available_at(head));

    // The keyboard moves the slider: Home to the first entry, then one step right.
    let slider = browser.find("#as-of-slider").await;
    slider.send_keys(&Key::Home.to_string()).await.unwrap();
    let first = entries[0]["seq"].as_u64().unwrap();
    browser.attr_until("#balances", "data-as-of-seq", &first.to_string()).await;
    assert_eq!(browser.text("#balances [data-field=available]").await, available_at(first));
    slider.send_keys(&Key::Right.to_string()).await.unwrap();
    let second = entries[1]["seq"].as_u64().unwrap();
    browser.attr_until("#balances", "data-as-of-seq", &second.to_string()).await;
    let earlier = browser.text("#balances [data-field=available]").await;
    assert_eq!(earlier, available_at(second));
    assert_ne!(earlier, now, "an earlier point shows an earlier balance");
    browser.screenshot("account").await;

    // The time picker, in +08:00 to the millisecond: a millisecond after the second entry.
    let recorded = entries[1]["recorded_at"].as_str().unwrap();
    let china = browser
        .client
        .execute(
            "const d = new Date(Date.parse(arguments[0]) + 1 + 8 * 3600 * 1000); \
             return d.toISOString().slice(0, 23);",
            vec![json!(recorded)],
        )
        .await
        .unwrap();
    let china = china.as_str().unwrap().to_owned();
    let (status, account) = service.get(AUDITOR, &format!("/v1/accounts/P1?as_of={china}%2B08:00"));
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["as_of_seq"], entries[1]["seq"], "{account}");
    browser.find("#as-of-now").await.click().await.unwrap();
    browser.attr_until("#balances", "data-as-of-seq", &head.to_string()).await;
    browser
        .client
        .execute("document.querySelector('#as-of-time').value = arguments[0];", vec![json!(china)])
        .await
        .unwrap();
    browser.find("#as-of-apply").await.click().await.unwrap();
    browser.attr_until("#balances", "data-as-of-seq", &entries[1]["seq"].to_string()).await;
    let shown = browser.text("#balances [data-field=available]").await;
    assert_eq!(shown, format!("¥{}", account["available"].as_str().unwrap()));
    // P1's one binding, its monthly usage a bar with the API's figures.
    let (_, bindings) = service.get(AUDITOR, "/v1/persons/P1/bindings");
    let binding = &bindings["as_authorizer"][0];
    assert_eq!(browser.count("#bindings tr[data-binding]").await, 1);
    let meter = browser.find("#bindings tr[data-binding] [role=meter]").await;
    assert_eq!(meter.attr("aria-valuenow").await.unwrap(), binding["used_month"].as_str().map(str::to_owned));
    assert_eq!(
        meter.attr("aria-valuemax").await.unwrap(),
        binding["monthly_limit"].as_str().map(str::to_owned)
    );
    browser.close().await;
}

/// The words the console gives each explain reason of S1, in Chinese and in English.
const REASONS: &[(&str, &str, &str)] = &[
    ("own_balance_exhausted", "本人账户余额已用尽", "the own balance ran out"),
    ("monthly_limit_reached", "已达到该绑定的月度限额", "the binding's monthly limit was reached"),
    (
        "family_balance_exhausted",
        "授权人账户可用于共济的余额已用尽",
        "the authorizer's balance open to family ran out",
    ),
];

// Proves a settlement's page names each explain reason in words, in Chinese and then in
// English, draws the split own → family → out of pocket as the API has it, and puts the
// refund on the timeline; another institution is refused the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_settlements_explain_names_each_reason() {
    let (_home, service, browser) = seeded().await;
    let (status, settlement) = service.get(H1, "/v1/settlements/S1");
    assert_eq!(status, 200, "{settlement}");
    let reasons: Vec<&str> = settlement["explain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, REASONS.iter().map(|(code, _, _)| *code).collect::<Vec<_>>(), "{settlement}");

    browser.sign_in_as(H1, "institution").await;
    // Its list holds its own settlement only; S1's link opens S1.
    browser.visit("#/settlement").await;
    browser.find("#settlements-next").await;
    assert_eq!(browser.attrs("tr[data-settlement]", "data-settlement").await, ["S1"]);
    browser.find("tr[data-settlement=S1] a").await.click().await.unwrap();
    for (code, chinese, _) in REASONS {
        let text = browser.text_until(&format!("#explain li[data-reason={code}]"), |_| true).await;
        assert!(text.contains(chinese), "{code}: {text}");
    }
    let sources = browser.attrs("#split .step", "data-source").await;
    let steps: Vec<(String, String)> = sources.into_iter().zip(browser.texts("#split .step").await).collect();
    let mut expected: Vec<(String, String)> = settlement["splits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|split| {
            (split["source"].as_str().unwrap().to_owned(), split["amount"].as_str().unwrap().to_owned())
        })
        .collect();
    expected.push(("out_of_pocket".to_owned(), settlement["out_of_pocket"].as_str().unwrap().to_owned()));
    assert_eq!(steps.len(), expected.len(), "{steps:?}");
    for ((source, text), (want_source, amount)) in steps.iter().zip(&expected) {
        assert_eq!(source, want_source);
        assert!(text.ends_with(&format!("¥{amount}")), "{text} pays {amount}");
    }
    let refund = browser.text("#timeline li[data-step=refund]").await;
    assert!(refund.contains("R1") && refund.contains("15.00"), "{refund}");
    browser.screenshot("settlement").await;

    browser.find("#lang").await.click().await.unwrap();
    for (code, _, english) in REASONS {
        let css = format!("#explain li[data-reason={code}]");
        browser.text_until(&css, |text| text.contains(english)).await;
    }
    browser.screenshot("settlement-en").await;

    // Another institution's token reads none of it.
    browser.sign_out().await;
    browser.sign_in_as(H2, "institution").await;
    browser.visit("#/settlement?id=S1").await;
    browser.attr_until(".error", "data-code", "forbidden").await;
    assert_eq!(browser.count("#explain").await, 0);
    browser.visit("#/settlement").await;
    browser.find("#settlements-next").await;
    assert_eq!(browser.attrs("tr[data-settlement]", "data-settlement").await, ["S2"]);
    // An auditor reads them all.
    browser.sign_out().await;
    browser.sign_in_as(AUDITOR, "auditor").await;
    browser.visit("#/settlement").await;
    browser.find("#settlements-next").await;
    assert_eq!(browser.attrs("tr[data-settlement]", "data-settlement").await, ["S1", "S2"]);
    browser.screenshot("settlements").await;
    browser.close().await;
}

// Proves the operations view: the rules diff marks what v2 changed, and a rebuild goes dry run
// → diff table → rebuild, its progress bar reaching 100 % each time, its diff the API's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilds_progress_reaches_100_and_its_diff_shows() {
    let (_home, service, browser) = seeded().await;
    browser.sign_in_as(OPERATOR, "operator").await;
    browser.visit("#/operations").await;
    browser.find("#rules-diff table").await;
    let differing = browser.attrs("#rules-diff tr[data-differs=true]", "data-field").await;
    assert_eq!(differing, ["effective_from", "hold_timeout_minutes", "limit_window", "version"]);

    let swap = browser.find("#rebuild-swap").await;
    assert!(!swap.is_enabled().await.unwrap(), "no rebuild before a dry run");
    browser.find("#rebuild-dry").await.click().await.unwrap();
    browser.text_until("#rebuild-percent", |text| text == "100%").await;
    browser.find("#rebuild-diff").await;
    let (_, status) = service.get(OPERATOR, "/v1/admin/projections/all");
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["dry_run"], true, "{status}");
    let cells = browser.texts("#rebuild-diff td").await;
    let diff = &status["diff"];
    let expected: Vec<String> = ["accounts_changed", "bindings_changed", "settlements_changed"]
        .iter()
        .map(|k| diff[k].to_string())
        .collect();
    assert_eq!(cells, expected, "the diff table is the API's");
    let bar = browser.find("#rebuild-progress").await.attr("value").await.unwrap();
    assert_eq!(bar.as_deref(), Some("100"), "the progress bar is full");

    let swap = browser.find("#rebuild-swap").await;
    assert!(swap.is_enabled().await.unwrap(), "a dry run opens the rebuild");
    swap.click().await.unwrap();
    browser.attr_until("#rebuild-result > div", "data-swapped", "true").await;
    assert_eq!(browser.text("#rebuild-percent").await, "100%");
    let (_, status) = service.get(OPERATOR, "/v1/admin/projections/all");
    assert_eq!(
        (status["status"].clone(), status["swapped"].clone()),
        (json!("done"), json!(true)),
        "{status}"
    );
    browser.find("#rebuild-diff").await;
    browser.screenshot("operations").await;
    browser.close().await;
}

// Proves the audit view: verify shows the API's ledger id and head; the log filters by kind and
// by person exactly as the API does, and an event opens to its envelope and hash link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_view_verifies_and_filters_the_log() {
    let (_home, service, browser) = seeded().await;
    let (_, verification) = service.get(AUDITOR, "/v1/audit/verify");
    browser.sign_in_as(AUDITOR, "auditor").await;
    browser.visit("#/audit").await;
    browser.find("#verify").await.click().await.unwrap();
    browser.attr_until("#verify-result [data-ok]", "data-ok", "true").await;
    assert_eq!(browser.text("#ledger-id").await, verification["ledger_id"].as_str().unwrap());
    assert_eq!(browser.text("#head-seq").await, verification["head_seq"].to_string());

    let seqs = |path: &str| {
        let (status, page) = service.get(AUDITOR, path);
        assert_eq!(status, 200, "{page}");
        page["events"].as_array().unwrap().iter().map(|e| e["seq"].to_string()).collect::<Vec<_>>()
    };
    for (hash, api) in
        [("#/audit?kind=credited", "/v1/events?kind=credited"), ("#/audit?person=P2", "/v1/events?person=P2")]
    {
        let expected = seqs(api);
        assert!(!expected.is_empty(), "{api}");
        browser.visit(hash).await;
        browser.find("#page-note").await;
        assert_eq!(browser.attrs("#event-list li", "data-seq").await, expected, "{hash}");
    }
    // Paged, five at a time: the next page starts where the API's next page does.
    browser.visit("#/audit?limit=5").await;
    browser.attr_until("#event-list li:last-child", "data-seq", "5").await;
    assert_eq!(browser.attrs("#event-list li", "data-seq").await, seqs("/v1/events?limit=5"));
    browser.find("#next-page").await.click().await.unwrap();
    browser.attr_until("#event-list li", "data-seq", "6").await;
    assert_eq!(browser.attrs("#event-list li", "data-seq").await, seqs("/v1/events?after_seq=5&limit=5"));
    let first = browser.find("#event-list li summary").await;
    first.click().await.unwrap();
    let envelope = browser.text("#event-list li details[open] pre").await;
    let envelope: Value = serde_json::from_str(&envelope).expect("the envelope as JSON");
    let link = browser.text("#event-list li details[open] .hash-link").await;
    assert!(link.contains(&envelope["hash"].as_str().unwrap()[..16]), "{link}");
    assert!(link.contains(&envelope["prev_hash"].as_str().unwrap()[..16]), "{link}");
    browser.find("#verify").await.click().await.unwrap();
    browser.attr_until("#verify-result [data-ok]", "data-ok", "true").await;
    browser.screenshot("audit").await;
    browser.close().await;
}
