//! The web viewer in a real browser: headless Chromium driven through
//! WebDriver (a chromedriver process started here) against a real runlogd on
//! 127.0.0.1. Needs Debian's `chromium` and `chromium-driver` (`.ci/run`
//! installs them); without them these tests fail, saying so.
//!
//! Screenshots of the pages land in `target/tmp/screenshots/`.
//!
//! `viewer_perf` (ignored) is not a test but the viewer's measurement on a
//! 1M-line log; it writes its figures to `benches/RESULTS.md`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::gcs::{signing_key, Emulator};
use crate::common::{self, find_binary, free_port, Dirs, TestServer};
use crate::corpus;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// One browser at a time: the machines running this have few cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const WAIT: Duration = Duration::from_secs(40);

/// Debian's Chromium and ChromeDriver, installed with apt the first time a
/// browser test finds them missing, so that `cargo test` works on a fresh
/// machine of the kind the project runs on (Debian, as root, with the
/// package registry reachable), as the GCS tests fetch their emulator.
/// Elsewhere it says what to install. `.ci/run` installs them beforehand.
fn install_browser_once() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let have = |env: &str, names: &[&str]| find_binary(env, names).is_some();
        if have("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])
            && have(
                "CHROMIUM",
                &["/usr/bin/chromium", "chromium", "chromium-browser"],
            )
        {
            return;
        }
        common::apt_install("the browser tests", &["chromium", "chromium-driver"]);
    });
}

struct Browser {
    client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Browser {
        install_browser_once();
        let driver_bin = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"])
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver not found: the browser tests need Debian's chromium and \
                     chromium-driver packages (apt-get install chromium chromium-driver), \
                     or CHROMEDRIVER and CHROMIUM pointing at the binaries"
                )
            });
        let chromium = find_binary(
            "CHROMIUM",
            &["/usr/bin/chromium", "chromium", "chromium-browser"],
        )
        .unwrap_or_else(|| {
            panic!(
                "chromium not found: the browser tests need Debian's chromium package \
                     (apt-get install chromium chromium-driver), or CHROMIUM pointing at it"
            )
        });
        let profile = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for attempt in 0..5 {
            // A free port: bound and released, then given to chromedriver;
            // another process could take it in between, hence the retries.
            let port = free_port();
            let mut driver = Command::new(&driver_bin)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut up = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = driver.try_wait() {
                    break;
                }
                if reqwest::get(format!("{url}/status")).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if !up {
                let _ = driver.kill();
                let _ = driver.wait();
                assert!(attempt < 4, "chromedriver did not start on any port");
                continue;
            }
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                json!({
                    "binary": chromium.to_string_lossy(),
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        "--window-size=1280,900",
                        format!("--user-data-dir={}", profile.path().display()),
                    ],
                }),
            );
            let client = ClientBuilder::rustls()
                .unwrap_or_else(|e| panic!("webdriver client: {e}"))
                .capabilities(caps)
                .connect(&url)
                .await
                .unwrap_or_else(|e| panic!("starting chromium through chromedriver: {e}"));
            return Browser {
                client,
                driver,
                _profile: profile,
            };
        }
        unreachable!("the loop returns or panics")
    }

    async fn stop(mut self) {
        let _ = self.client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }

    async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script {script}: {e}"))
    }

    /// Waits until `script` (a function body) returns something truthy and
    /// returns it.
    async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let text = self
                    .js("return document.body.innerText.slice(0, 2000)")
                    .await;
                panic!("timed out waiting for {what}; page text: {text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let e = self
            .client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css}: {e}"));
        e.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        let v = self
            .js(&format!(
                "const e = document.querySelector({}); return e ? e.textContent : null",
                json!(css)
            ))
            .await;
        v.as_str().unwrap_or_else(|| panic!("no {css}")).to_owned()
    }

    /// Opens `path` with the token already in the tab's sessionStorage.
    async fn open_with_token(&self, base: &str, token: &str, path: &str) {
        self.goto(&format!("{base}/healthz")).await;
        self.client
            .execute(
                "sessionStorage.setItem('runlogd.token', arguments[0])",
                vec![json!(token)],
            )
            .await
            .unwrap_or_else(|e| panic!("set token: {e}"));
        self.goto(&format!("{base}{path}")).await;
    }

    async fn screenshot(&self, name: &str) {
        let png = self
            .client
            .screenshot()
            .await
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
        std::fs::write(dir.join(format!("{name}.png")), png)
            .unwrap_or_else(|e| panic!("write screenshot: {e}"));
    }

    /// Line numbers of the rows in the run view, in order.
    async fn rows(&self) -> Vec<u64> {
        let v = self
            .js("return [...document.querySelectorAll('#lines .row')].map(r => Number(r.dataset.line))")
            .await;
        v.as_array()
            .unwrap_or_else(|| panic!("rows: {v}"))
            .iter()
            .map(|n| n.as_u64().unwrap_or(0))
            .collect()
    }

    /// Whether row `line` is in the log's visible area.
    async fn row_on_screen(&self, line: u64) -> bool {
        self.js(&format!(
            "const r = document.getElementById('L{line}'); if (!r) return false;
             const a = r.getBoundingClientRect(), b = document.getElementById('log').getBoundingClientRect();
             return a.top >= b.top && a.bottom <= b.bottom"
        ))
        .await
            == json!(true)
    }
}

/// Lines in `LEVEL source: message` form: line i is an error from the
/// worker when i % 10 == 0, a warning from the test runner when i % 10 == 5,
/// else info from the build.
fn mixed_log(lines: u64) -> String {
    (1..=lines).map(|i| line_text(i) + "\n").collect()
}

fn line_text(i: u64) -> String {
    match i % 10 {
        0 => format!("ERROR worker: step {i} failed"),
        5 => format!("WARNING test_runner: step {i} slow Needle"),
        _ => format!("INFO build: step {i} ok"),
    }
}

/// A server over `dirs`, and a browser that has opened `path` on it with
/// the reader token.
async fn serve_and_open(dirs: &Dirs, path: &str) -> (TestServer, Browser) {
    let s = TestServer::start(dirs.config()).await;
    let b = Browser::start().await;
    b.open_with_token(&s.base, &s.reader(), path).await;
    (s, b)
}

/// A server on the bundled example runs (9401-9405).
async fn bundled() -> (Dirs, TestServer) {
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.repository = None;
    let s = TestServer::start(config).await;
    (dirs, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_asked_once_kept_in_the_tab_and_a_bad_one_is_explained() {
    let _serial = SERIAL.lock().await;
    let (_dirs, s) = bundled().await;
    let b = Browser::start().await;
    b.goto(&format!("{}/", s.base)).await;
    b.until(
        "the token prompt",
        "return !document.getElementById('token-dialog').hidden",
    )
    .await;

    b.type_into("#token-input", "not-a-real-token").await;
    b.click("#token-save").await;
    let msg = b
        .until(
            "the message for a rejected token",
            "const e = document.getElementById('token-error');
             return !e.hidden && !document.getElementById('token-dialog').hidden && e.textContent",
        )
        .await;
    assert!(
        msg.as_str().is_some_and(|m| m.contains("not accepted")),
        "{msg}"
    );
    assert_eq!(
        b.js("return sessionStorage.getItem('runlogd.token')").await,
        Value::Null,
        "a rejected token is forgotten"
    );

    // A token without system:read: valid, but not allowed.
    let other = s.token(&["runs:read"]);
    b.type_into("#token-input", &other).await;
    b.click("#token-save").await;
    let msg = b
        .until(
            "the message for a token without the scope",
            "const n = document.getElementById('notice'); return !n.hidden && n.textContent",
        )
        .await;
    assert!(
        msg.as_str().is_some_and(|m| m.contains("system:read")),
        "{msg}"
    );

    b.click("#token-change").await;
    let good = s.reader();
    b.type_into("#token-input", &good).await;
    b.click("#token-save").await;
    b.until(
        "the recent logs",
        "return document.querySelectorAll('#recent tr').length === 5",
    )
    .await;
    let runs = b
        .js("return [...document.querySelectorAll('#recent tr')].map(r => Number(r.dataset.run))")
        .await;
    assert_eq!(runs, json!([9405, 9404, 9403, 9402, 9401]));
    assert_eq!(
        b.js("return sessionStorage.getItem('runlogd.token')").await,
        json!(good)
    );
    // Kept in the tab only: not in the URL, not in a cookie.
    let url = b
        .client
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!url.as_str().contains(&good));
    assert_eq!(b.js("return document.cookie").await, json!(""));
    // Asked once: a reload goes straight to the data.
    b.goto(&format!("{}/", s.base)).await;
    b.until(
        "the recent logs after a reload",
        "return document.querySelectorAll('#recent tr').length === 5",
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('token-dialog').hidden")
            .await,
        json!(true)
    );
    b.stop().await;
    s.stop().await;
}

/// The pages with a Sample Platform token: the platform (a stand-in on
/// 127.0.0.1, see `platform.rs`) vouches for it and the pages work as with
/// runlogd's own; while the platform cannot answer, a new token is
/// explained as not checked, not as refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_token_opens_the_pages_and_a_platform_outage_is_explained() {
    use crate::platform::{Mode, Platform};
    let _serial = SERIAL.lock().await;
    let platform = Platform::start().await;
    let dirs = Dirs::new();
    let mut config = dirs.config();
    config.repository = None;
    config.auth.platform_url = Some(platform.base.clone());
    let s = TestServer::start(config).await;
    let token = platform.mint(&["system:read"]);
    let b = Browser::start().await;
    b.open_with_token(&s.base, &token, "/").await;
    b.until(
        "the recent logs",
        "return document.querySelectorAll('#recent tr').length === 5",
    )
    .await;
    b.goto(&format!("{}/runs/9401", s.base)).await;
    b.until("the run's lines", "return document.getElementById('L1')")
        .await;

    platform.set_mode(Mode::Status(503));
    let fresh = platform.mint(&["system:read"]);
    b.js("sessionStorage.removeItem('runlogd.token'); return true")
        .await;
    b.goto(&format!("{}/runs/9401", s.base)).await;
    b.until(
        "the token prompt",
        "return !document.getElementById('token-dialog').hidden",
    )
    .await;
    b.type_into("#token-input", &fresh).await;
    b.click("#token-save").await;
    let msg = b
        .until(
            "the message for a token the platform could not check",
            "const n = document.getElementById('notice'); \
             const e = document.getElementById('token-error'); \
             return (!n.hidden && n.textContent) || (!e.hidden && e.textContent)",
        )
        .await;
    let msg = msg.as_str().unwrap_or_default();
    assert!(msg.contains("could not be checked right now"), "{msg}");
    assert!(msg.contains("may well be fine"), "{msg}");
    assert!(!msg.contains("not accepted"), "{msg}");
    b.stop().await;
    s.stop().await;
}

/// A wrong token typed on a run's page, and one that stops being accepted
/// while following: a request is refused, and the
/// requests after it then find no token at all; the dialog must keep saying
/// that the token was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_typed_on_a_run_page_stays_explained_as_refused() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let content = mixed_log(30);
    dirs.write_log(80, &content);
    let s = TestServer::start(dirs.config()).await;
    // The server's own words for this token, whatever they are today.
    let refused = s
        .get("/api/v1/runs/80/logs", Some("not-a-real-token"))
        .await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let server_says = refused.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!server_says.is_empty(), "{}", refused.body);

    let b = Browser::start().await;
    b.goto(&format!("{}/runs/80", s.base)).await;
    b.until(
        "the token prompt",
        "return !document.getElementById('token-dialog').hidden",
    )
    .await;
    b.type_into("#token-input", "not-a-real-token").await;
    b.click("#token-save").await;
    stays_refused(&b, &server_says, Duration::from_millis(1500)).await;
    b.screenshot("refused-token").await;

    // A good token then opens the run, with its error count.
    let errors = content.lines().filter(|l| l.starts_with("ERROR")).count();
    b.type_into("#token-input", &s.reader()).await;
    b.click("#token-save").await;
    b.until("the lines", "return document.getElementById('L30')")
        .await;
    b.until(
        "the error count",
        &format!(
            "return document.getElementById('err-count').textContent === {}",
            json!(format!("{errors} errors"))
        ),
    )
    .await;
    assert_eq!(
        b.js("return document.getElementById('token-dialog').hidden")
            .await,
        json!(true)
    );

    // Following, when the token stops being accepted: the poll that is
    // refused explains it, and the polls after it, every 2 s, find no token.
    b.click("#follow").await;
    b.until(
        "following",
        "return document.getElementById('bottom-edge').textContent.includes('following')",
    )
    .await;
    b.js("sessionStorage.setItem('runlogd.token', 'no-longer-a-token')")
        .await;
    stays_refused(&b, &server_says, Duration::from_millis(4500)).await;
    b.stop().await;
    s.stop().await;
}

/// Waits for the token dialog to explain a refused token, then checks for
/// `keep` that it goes on saying so: the requests failing after the refusal
/// find no token, and must not replace the explanation.
async fn stays_refused(b: &Browser, server_says: &str, keep: Duration) {
    let reason = "const e = document.getElementById('token-error');
         return !e.hidden && !document.getElementById('token-dialog').hidden && e.textContent";
    b.until("the message for the refused token", reason).await;
    let until = Instant::now() + keep;
    while Instant::now() < until {
        let msg = b.js(reason).await;
        let msg = msg.as_str().unwrap_or_default();
        assert!(
            !msg.contains("A token is needed"),
            "a refused token is not reported as a missing one: {msg:?}"
        );
        assert!(
            msg.contains("not accepted") && msg.contains(server_says),
            "the dialog says why the token was refused: {msg:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_across_runs_lists_runs_with_counts_and_opens_a_result_at_its_line() {
    let _serial = SERIAL.lock().await;
    let (_dirs, s) = bundled().await;
    let t = s.reader();
    let count = |run: u64, needle: &str| -> u64 {
        let path = s.repo.join("LogFiles").join(format!("{run}.txt"));
        let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")))
            .to_lowercase();
        text.lines().filter(|l| l.contains(needle)).count() as u64
    };
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/").await;
    b.type_into("#q-contains", "maximum time elapsed").await;
    b.click("#q-submit").await;
    b.until(
        "search results",
        "return document.querySelectorAll('#results > li').length > 0",
    )
    .await;
    let runs = b
        .js("return [...document.querySelectorAll('#results > li')].map(r => Number(r.dataset.run))")
        .await;
    assert_eq!(runs, json!([9405, 9403]));
    let counts = b
        .js("return [...document.querySelectorAll('#results > li .count')].map(c => c.textContent)")
        .await;
    let label = |n: u64| format!("{n} {}", if n == 1 { "match" } else { "matches" });
    assert_eq!(
        counts,
        json!([
            label(count(9405, "maximum time elapsed")),
            label(count(9403, "maximum time elapsed")),
        ])
    );
    let marks = b
        .js("return [...document.querySelectorAll('#results mark')].map(m => m.textContent.toLowerCase())")
        .await;
    assert!(
        marks
            .as_array()
            .is_some_and(|m| !m.is_empty() && m.iter().all(|x| x == "maximum time elapsed")),
        "{marks}"
    );
    // The search is in the URL, so it can be shared.
    let url = b
        .client
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        url.as_str().contains("contains=maximum+time+elapsed"),
        "{url}"
    );
    b.screenshot("search").await;

    let first = b
        .js("return document.querySelector('#results > li a.hit').getAttribute('href')")
        .await;
    let href = first.as_str().unwrap_or_default().to_owned();
    let line: u64 = href
        .rsplit_once("#L")
        .and_then(|(_, n)| n.parse().ok())
        .unwrap_or_else(|| panic!("no line in {href}"));
    assert!(href.starts_with("/runs/9405#L"), "{href}");
    b.click("#results > li a.hit").await;
    b.until(
        "the run view at the result's line",
        &format!("const r = document.getElementById('L{line}'); return r && r.classList.contains('target')"),
    )
    .await;
    assert!(b.row_on_screen(line).await, "line {line} is on screen");
    let msg = b.text(&format!("#L{line} .msg")).await;
    assert!(msg.to_lowercase().contains("maximum time elapsed"), "{msg}");
    b.screenshot("run").await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_filter_narrows_the_view_keeps_line_numbers_and_is_in_the_url() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(20, mixed_log(300));
    let (s, b) = serve_and_open(&dirs, "/runs/20").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    assert_eq!(b.text("#L10 .src").await, "worker");
    assert_eq!(
        b.js("return document.getElementById('L10').dataset.level")
            .await,
        json!("error")
    );
    // Levels are told apart by colour.
    let colours = b
        .js(
            "const c = (n) => getComputedStyle(document.querySelector('#L' + n + ' .msg')).color;
             return [c(1), c(5), c(10)]",
        )
        .await;
    let colours: Vec<&str> = colours
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(colours.len(), 3);
    assert!(
        colours[0] != colours[1] && colours[1] != colours[2] && colours[0] != colours[2],
        "info, warning and error in three colours: {colours:?}"
    );

    // Level.
    b.click("#f-levels input[value=error]").await;
    b.click("#f-apply").await;
    b.until(
        "the error filter",
        "return location.search.includes('level=error') && document.getElementById('L10') && !document.getElementById('L1')",
    )
    .await;
    b.until("every error", "return document.getElementById('L300')")
        .await;
    let expected: Vec<u64> = (1..=30).map(|i| i * 10).collect();
    assert_eq!(b.rows().await, expected);

    // Source, shared through the URL: a fresh load of the same URL.
    b.goto(&format!("{}/runs/20?source=test_runner", s.base))
        .await;
    b.until("the source filter", "return document.getElementById('L5')")
        .await;
    b.until(
        "every test runner line",
        "return document.getElementById('L295')",
    )
    .await;
    let expected: Vec<u64> = (0..30).map(|i| i * 10 + 5).collect();
    assert_eq!(b.rows().await, expected);
    assert_eq!(
        b.js("return document.getElementById('f-source').value")
            .await,
        json!("test_runner")
    );

    // Contains, case-insensitive, from the form.
    b.click("#f-clear").await;
    b.until(
        "all lines again",
        "return document.getElementById('L1') && !location.search",
    )
    .await;
    b.type_into("#f-contains", "STEP 12").await;
    b.click("#f-apply").await;
    b.until(
        "the text filter",
        "return location.search.includes('contains=STEP+12') && document.getElementById('L12')",
    )
    .await;
    b.until(
        "the text filter's last line",
        "return document.getElementById('L129')",
    )
    .await;
    let mut expected: Vec<u64> = vec![12];
    expected.extend(120..=129);
    assert_eq!(b.rows().await, expected);
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_counts_exactly_and_steps_through_matches_and_errors_from_the_keyboard() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(21, mixed_log(3000));
    let (s, b) = serve_and_open(&dirs, "/runs/21").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    b.until(
        "the error count",
        "return document.getElementById('err-count').textContent.includes('300 errors')",
    )
    .await;

    // `/` focuses the search; the count is exact, not what is loaded.
    b.client
        .find(Locator::Css("#log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .send_keys("/")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the search box focused",
        "return document.activeElement && document.activeElement.id === 'find'",
    )
    .await;
    b.type_into("#find", "needle\u{E007}").await; // Enter
    b.until(
        "the first match",
        "return document.getElementById('find-count').textContent === '1 of 300'",
    )
    .await;
    b.until(
        "the first match marked",
        "const r = document.getElementById('L5'); return r && r.classList.contains('current') && r.querySelector('mark')",
    )
    .await;
    assert_eq!(b.text("#L5 mark").await, "Needle");

    // n and N from the log.
    let log = b
        .client
        .find(Locator::Css("#log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the second match",
        "return document.getElementById('find-count').textContent === '2 of 300' && document.getElementById('L15').classList.contains('current')",
    )
    .await;
    log.send_keys("N").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "back to the first match",
        "return document.getElementById('find-count').textContent === '1 of 300' && document.getElementById('L5').classList.contains('current')",
    )
    .await;

    // First error, then `e` for the next one.
    b.click("#err-first").await;
    b.until(
        "the first error",
        "return document.getElementById('err-count').textContent === '1 of 300' && document.getElementById('L10').classList.contains('current')",
    )
    .await;
    log.send_keys("e").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the next error",
        "return document.getElementById('err-count').textContent === '2 of 300' && document.getElementById('L20').classList.contains('current')",
    )
    .await;
    b.stop().await;
    s.stop().await;
}

/// An info line of `head`, 4,100 filler characters and `tail`: longer than
/// the 4,000 characters the API serves, so `tail` is cut off.
fn past_the_cut(head: &str, tail: &str) -> String {
    format!("[INFO] {head} {} {tail}", "x".repeat(4100))
}

/// Lines whose searched text lies past the 4,000 characters the API serves
/// are found by the server, so the viewer counts them
/// and steps onto them, also when find and the view's text filter are two
/// different texts; a cut line without the text is not taken for a match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_counts_and_steps_onto_lines_whose_match_is_past_the_cut() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let lines = [
        "[INFO] alpha one needle".to_owned(),
        "[INFO] beta needle".to_owned(),
        past_the_cut("alpha", "needle"),
        past_the_cut("alpha", "nothing"),
        "[INFO] alpha needle again".to_owned(),
        "[INFO] alpha plain".to_owned(),
        past_the_cut("", "alpha needle"),
        "[INFO] the end".to_owned(),
    ];
    dirs.write_log(82, lines.join("\n") + "\n");
    // Line numbers of the lines containing every one of `texts`.
    let having = |texts: &[&str]| -> Vec<u64> {
        (1..)
            .zip(&lines)
            .filter(|(_, l)| texts.iter().all(|t| l.to_lowercase().contains(t)))
            .map(|(n, _)| n)
            .collect()
    };
    // Lines where the text lies past the 4,000 characters served.
    let past: Vec<u64> = (1..)
        .zip(&lines)
        .filter(|(_, l)| l.find("needle").is_some_and(|i| i >= 4000))
        .map(|(n, _)| n)
        .collect();
    let (s, b) = serve_and_open(&dirs, "/runs/82?contains=alpha").await;
    // What the test is about: the API serves those lines cut, without the text.
    assert!(!past.is_empty());
    let page = s.get("/api/v1/runs/82/logs", Some(&s.reader())).await;
    for n in &past {
        let line = &page.body["data"][*n as usize - 1];
        assert_eq!(line["truncated"], json!(true), "{n}: {line}");
        let shown = line["message"].as_str().unwrap_or_default();
        assert!(
            !shown.contains("needle"),
            "line {n} is served with the text"
        );
    }

    // Steps through `expected` with Enter and then `n`, checking the count
    // and the current line each time, and that there is nothing after. A
    // match in view is highlighted; one past the cut is said to be there.
    async fn step_through(b: &Browser, expected: &[u64], past: &[u64]) {
        b.type_into("#find", "needle\u{E007}").await; // Enter
        let log = b
            .client
            .find(Locator::Css("#log"))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        for (i, n) in expected.iter().enumerate() {
            if i > 0 {
                log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
            }
            b.until(
                &format!("match {} of {} on line {n}", i + 1, expected.len()),
                &format!(
                    "const r = document.getElementById('L{n}');
                     return document.getElementById('find-count').textContent === {}
                       && r && r.classList.contains('current')",
                    json!(format!("{} of {}", i + 1, expected.len()))
                ),
            )
            .await;
            let shown = b
                .js(&format!(
                    "const r = document.getElementById('L{n}'), t = r.querySelector('.trunc');
                     return [r.querySelectorAll('mark.on').length, t ? t.textContent : '']"
                ))
                .await;
            if past.contains(n) {
                assert_eq!(shown[0], json!(0), "line {n}: nothing to highlight");
                assert!(
                    shown[1]
                        .as_str()
                        .is_some_and(|t| t.contains("past the cut")),
                    "line {n}: {shown}"
                );
            } else {
                assert_eq!(shown[0], json!(1), "line {n}: the match highlighted");
            }
        }
        log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
        b.until(
            "no later match",
            "return document.getElementById('find-count').textContent === 'no later match'",
        )
        .await;
    }

    // Find within the view's own text filter: two texts, the filter's
    // searched by the server, find's checked by the viewer.
    let filtered = having(&["alpha"]);
    b.until(
        "the filtered lines",
        &format!(
            "return document.getElementById('L{}')",
            filtered[filtered.len() - 1]
        ),
    )
    .await;
    assert_eq!(b.rows().await, filtered);
    step_through(&b, &having(&["alpha", "needle"]), &past).await;

    // Find alone: the server searches for the text.
    b.goto(&format!("{}/runs/82", s.base)).await;
    b.until(
        "the lines",
        &format!("return document.getElementById('L{}')", lines.len()),
    )
    .await;
    step_through(&b, &having(&["needle"]), &past).await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permalink_deep_in_a_large_log_opens_there_and_scrolling_pages_both_ways() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(30, mixed_log(200_000));
    let (s, b) = serve_and_open(&dirs, "/runs/30#L150000-L150010").await;
    b.until(
        "the permalinked range",
        "const r = document.getElementById('L150000'); return r && r.classList.contains('target')",
    )
    .await;
    let targets = b
        .js("return [...document.querySelectorAll('#lines .row.target')].map(r => Number(r.dataset.line))")
        .await;
    assert_eq!(targets, json!((150_000..=150_010).collect::<Vec<u64>>()));
    assert!(b.row_on_screen(150_000).await, "line 150000 is on screen");
    let rows = b.rows().await;
    assert!(
        rows.first().is_some_and(|&f| f > 149_000),
        "opened around the line, not from the top: {:?}",
        rows.first()
    );
    b.screenshot("permalink").await;

    // Find and errors from deep in the log: one request from the line on,
    // not a walk from the top.
    b.type_into("#find", "needle").await;
    b.until(
        "the exact count",
        "return document.getElementById('find-count').dataset.total === '20000'",
    )
    .await;
    let log = b
        .client
        .find(Locator::Css("#log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the next match after the permalink",
        "return document.getElementById('find-count').textContent === 'line 150,005 · 20,000 matches'
             && document.getElementById('L150005').classList.contains('current')",
    )
    .await;
    log.send_keys("N").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the match before it",
        "return document.getElementById('find-count').textContent === 'line 149,995 · 20,000 matches'
             && document.getElementById('L149995').classList.contains('current')",
    )
    .await;
    log.send_keys("e").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the next error",
        "return document.getElementById('err-count').textContent === 'line 150,000 · 20,000 errors'
             && document.getElementById('L150000').classList.contains('current')",
    )
    .await;

    // Down: pages load at the bottom and the top ones are dropped.
    let mut last = rows.last().copied().unwrap_or(0);
    for _ in 0..20 {
        b.js("const l = document.getElementById('log'); l.scrollTop = l.scrollHeight")
            .await;
        b.until(
            "a next page",
            &format!("return Number(document.getElementById('position').dataset.last) > {last}"),
        )
        .await;
        last = b
            .js("return Number(document.getElementById('position').dataset.last)")
            .await
            .as_u64()
            .unwrap_or(0);
        if last > 151_500 {
            break;
        }
    }
    let rows = b.rows().await;
    assert!(last > 151_500, "scrolled down to {last}");
    assert!(rows.len() <= 800, "at most 8 pages kept: {}", rows.len());
    assert!(!rows.contains(&150_000), "the pages far above were dropped");
    assert!(
        rows.windows(2).all(|w| w[1] == w[0] + 1),
        "the rows are consecutive lines"
    );

    // Up: earlier pages come back, from the API, above the view.
    let mut first = rows.first().copied().unwrap_or(0);
    for _ in 0..40 {
        b.js("document.getElementById('log').scrollTop = 0").await;
        b.until(
            "an earlier page",
            &format!("return Number(document.getElementById('position').dataset.first) < {first}"),
        )
        .await;
        first = b
            .js("return Number(document.getElementById('position').dataset.first)")
            .await
            .as_u64()
            .unwrap_or(u64::MAX);
        if first < 149_000 {
            break;
        }
    }
    let rows = b.rows().await;
    assert!(first < 149_000, "scrolled up to {first}");
    assert!(rows.len() <= 800, "at most 8 pages kept: {}", rows.len());
    assert!(!rows.contains(&last), "the pages far below were dropped");
    assert!(rows.windows(2).all(|w| w[1] == w[0] + 1));
    assert_eq!(b.text(&format!("#L{first} .msg")).await, line_text(first));
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_mode_shows_lines_appended_to_the_file() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(40, mixed_log(300));
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let sync = |s: &TestServer| {
        s.daemon_parts
            .ingestor
            .sync_run(40)
            .unwrap_or_else(|e| panic!("sync: {e}"));
    };
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/runs/40").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    b.click("#follow").await;
    b.until(
        "following at the end",
        "return document.getElementById('L300') && document.getElementById('bottom-edge').textContent.includes('following')",
    )
    .await;

    dirs.write_log(40, mixed_log(305));
    sync(&s);
    b.until(
        "the appended lines",
        "return document.getElementById('L305')",
    )
    .await;
    assert!(b.row_on_screen(305).await, "the view stays at the bottom");

    // Scrolled up: the view stays put and says what is waiting.
    b.js("document.getElementById('log').scrollTop = 0").await;
    dirs.write_log(40, mixed_log(312));
    sync(&s);
    b.until(
        "the new-lines notice",
        "const p = document.getElementById('new-lines'); return !p.hidden && p.dataset.count === '7'",
    )
    .await;
    assert_eq!(b.text("#new-lines").await, "7 new lines ↓");
    assert_eq!(
        b.js("return !!document.getElementById('L306')").await,
        json!(false)
    );
    b.click("#new-lines").await;
    b.until(
        "the waiting lines",
        "return document.getElementById('L312')",
    )
    .await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_log_lines_is_shown_as_text_and_runs_nothing() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let evil = [
        "<script>window.pwned=1</script>",
        "<img src=x onerror=window.pwned=1>",
        "javascript:window.pwned=1",
        "<a href=\"javascript:window.pwned=1\">pwned link</a>",
    ];
    dirs.write_log(
        50,
        format!("[INFO] start\n{}\n[INFO] end\n", evil.join("\n")),
    );
    let (s, b) = serve_and_open(&dirs, "/runs/50").await;
    b.until("the lines", "return document.getElementById('L6')")
        .await;
    for (i, text) in evil.iter().enumerate() {
        assert_eq!(b.text(&format!("#L{} .msg", i + 2)).await, *text);
    }
    // Find highlights inside the markup-looking text, still as text.
    b.type_into("#find", "pwned\u{E007}").await;
    b.until(
        "the find count",
        "return document.getElementById('find-count').dataset.total === '4'",
    )
    .await;
    assert_eq!(b.text("#L3 .msg").await, evil[1]);
    assert_eq!(
        b.js("return document.querySelectorAll('#lines img, #lines script, #lines a:not(.num)').length")
            .await,
        json!(0)
    );
    // The search page too.
    b.goto(&format!("{}/?contains=pwned", s.base)).await;
    b.until(
        "the search result",
        "return document.querySelectorAll('#results a.hit').length === 3",
    )
    .await;
    assert_eq!(
        b.js("return document.querySelectorAll('#results img, #results script').length")
            .await,
        json!(0)
    );
    assert_eq!(b.js("return typeof window.pwned").await, json!("undefined"));
    // Inline scripts are refused by the page's policy.
    let inline = b
        .js(
            "const s = document.createElement('script'); s.textContent = 'window.inlineRan = 1';
             document.body.appendChild(s); return typeof window.inlineRan",
        )
        .await;
    assert_eq!(inline, json!("undefined"));
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_is_explained_with_the_wait() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(60, "[INFO] one\n[ERROR] two\n");
    let mut config = dirs.config();
    config.rate_limit.requests_per_minute = 1;
    let s = TestServer::start(config).await;
    let t = s.reader();
    let b = Browser::start().await;
    // The search and the listing: two requests, one more than allowed.
    b.open_with_token(&s.base, &t, "/?contains=two").await;
    let msg = b
        .until(
            "the rate-limit message",
            "const n = document.getElementById('notice'); return !n.hidden && n.textContent",
        )
        .await;
    let msg = msg.as_str().unwrap_or_default();
    assert!(msg.starts_with("Too many requests"), "{msg}");
    assert!(msg.contains("Try again in"), "{msg}");
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_folds_long_lines_and_the_raw_file_is_offered() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let long = "x".repeat(3000);
    let content = format!("[INFO] short\n[INFO] {long}\n");
    dirs.write_log(70, &content);
    let s = TestServer::start(dirs.config()).await;
    let t = s.reader();
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/runs/70").await;
    b.until("the lines", "return document.getElementById('L2')")
        .await;
    let height = "return document.getElementById('L2').getBoundingClientRect().height";
    let one = b.js(height).await.as_f64().unwrap_or(0.0);
    b.click("#wrap").await;
    let wrapped = b
        .until(
            "the long line wrapped",
            &format!("const h = (() => {{ {height} }})(); return h > {one} * 3 ? h : 0"),
        )
        .await;
    assert!(wrapped.as_f64().unwrap_or(0.0) > one * 3.0);
    assert_eq!(
        b.js("return document.getElementById('wrap').getAttribute('aria-pressed')")
            .await,
        json!("true")
    );
    // The raw download fetches the file with the token and hands it over
    // as a file named after the run.
    let got = b
        .js("return new Promise(done => {
               let blob = null;
               const make = URL.createObjectURL;
               URL.createObjectURL = (b) => { blob = b; return make(b); };
               const orig = HTMLAnchorElement.prototype.click;
               HTMLAnchorElement.prototype.click = function () {
                 HTMLAnchorElement.prototype.click = orig;
                 URL.createObjectURL = make;
                 blob.text().then(t => done([this.download, this.href.startsWith('blob:'), t.length]));
               };
               document.getElementById('raw').click();
             })")
        .await;
    assert_eq!(got, json!(["70.txt", true, content.len()]));
    b.stop().await;
    s.stop().await;
}

/// A run the bucket serves: the API's raw download is a redirect to a signed
/// URL on the bucket's origin, which the page's policy would not let a fetch
/// follow. The button gets the URL with the token and navigates there; the
/// bucket answers without the token. (The emulator ignores
/// `response-content-disposition`, so the tab shows the file rather than
/// saving it; the real bucket sends it as an attachment.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raw_file_of_a_run_in_the_bucket_comes_from_its_signed_url() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let emulator = Emulator::start(&dirs.root.path().join("gcs"), "viewer-bucket").await;
    let mut config = dirs.config();
    emulator.configure(&mut config);
    config.gcs.signing_key = Some(signing_key(
        dirs.root.path(),
        "runlogd-test@example.iam.gserviceaccount.com",
    ));
    let content = "[INFO] kept in the bucket\n[ERROR] second line <b>bold</b>\n";
    emulator.put_log(88, content).await;
    let s = TestServer::start(config).await;
    s.wait_gcs("the first sync", |g| g["state"] == "ok").await;
    let t = s.reader();
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/runs/88").await;
    b.until("the lines", "return document.getElementById('L2')")
        .await;
    b.click("#raw").await;
    let bucket = emulator.base_url();
    b.until(
        "the signed URL opened",
        &format!("return location.origin === {}", json!(bucket)),
    )
    .await;
    let url = b.js("return location.href").await;
    let url = url.as_str().unwrap_or_default();
    assert!(
        url.starts_with(&format!("{bucket}/viewer-bucket/LogFiles/88.txt?"))
            && url.contains("X-Goog-Signature="),
        "{url}"
    );
    assert!(!url.contains(&t), "the token stays on runlogd's origin");
    let shown = b
        .until(
            "the file",
            "return document.body && document.body.innerText",
        )
        .await;
    assert_eq!(shown.as_str().map(str::trim_end), Some(content.trim_end()));
    b.stop().await;
    s.stop().await;
}

#[tokio::test]
async fn the_pages_are_served_without_a_token_under_a_strict_policy() {
    let dirs = Dirs::new();
    let s = TestServer::start(dirs.config()).await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/runs/9405", "text/html"),
        ("/assets/run.js", "text/javascript"),
        ("/assets/search.js", "text/javascript"),
        ("/assets/common.js", "text/javascript"),
        ("/assets/app.css", "text/css"),
    ] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, 200, "{path}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with(kind)),
            "{path}: {:?}",
            r.header("content-type")
        );
        let csp = r.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
    }
    let r = s.get("/assets/nope.js", None).await;
    assert_eq!(r.status, 404);
    let r = s.get("/runs/abc", None).await;
    assert_eq!(r.status, 404);
    // The API still wants its token.
    let r = s.get("/api/v1/logs", None).await;
    assert_eq!(r.status, 401);
    s.stop().await;
}

// ---- measurement -----------------------------------------------------------

/// Repetitions of each opening measured (after one unmeasured warm-up).
const PERF_OPENINGS: usize = 7;
/// Lines scrolled in each direction.
const PERF_SCROLL_LINES: u64 = 10_000;
/// Times the scroll down and back up is measured.
const PERF_SCROLL_ROUNDS: usize = 3;
/// Pixels scrolled per frame: a brisk wheel or a dragged scrollbar.
const PERF_SCROLL_STEP_PX: u32 = 400;

/// The load average and core count, as `/proc` says.
fn machine_load() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut parts = load.split_whitespace();
    let (a, b, c) = (
        parts.next().unwrap_or("?"),
        parts.next().unwrap_or("?"),
        parts.next().unwrap_or("?"),
    );
    format!("load average {a} / {b} / {c} (1 / 5 / 15 min) on {cores} cores")
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn max_of(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NAN, f64::max)
}

/// Replaces (or appends) the section `name` of `benches/RESULTS.md`, between
/// the markers `benches/compare/results.py` uses, leaving the rest as it is.
fn write_results_section(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/RESULTS.md");
    let begin =
        format!("<!-- generated: {name} (do not edit by hand; rerun the script to update) -->");
    let end = format!("<!-- end generated: {name} -->");
    let block = format!("{begin}\n{}\n{end}", text.trim());
    let content = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmark results\n".into());
    let content = match (content.find(&begin), content.find(&end)) {
        (Some(a), Some(b)) if b > a => {
            format!("{}{block}{}", &content[..a], &content[b + end.len()..])
        }
        _ => format!("{}\n\n{block}\n", content.trim_end_matches('\n')),
    };
    std::fs::write(&path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// One opening of the run view: ms from navigation start until the first
/// lines are placed and painted, and where the time went.
struct Opening {
    placed: f64,
    painted: f64,
    dom_ready: f64,
    api: Vec<f64>,
}

impl Browser {
    /// Opens `path` afresh (a new document, not a hash change) and reads the
    /// viewer's marks once `line` is on screen.
    async fn measure_opening(&self, base: &str, path: &str, line: u64) -> Opening {
        self.goto(&format!("{base}/healthz")).await;
        self.goto(&format!("{base}{path}")).await;
        self.until(
            "the painted mark",
            "return performance.getEntriesByName('runlogd:lines-painted').length > 0",
        )
        .await;
        assert!(self.row_on_screen(line).await, "line {line} is on screen");
        // The page's own work after the lines (the error count) ends before
        // the next opening, which it would otherwise slow down.
        self.until(
            "the error count",
            "return document.getElementById('err-count').dataset.total",
        )
        .await;
        let v = self
            .js("const m = (n) => performance.getEntriesByName(n)[0].startTime;
                 const nav = performance.getEntriesByType('navigation')[0];
                 const api = performance.getEntriesByType('resource')
                   .filter(r => r.name.includes('/api/v1/') && r.startTime < m('runlogd:lines-placed'))
                   .map(r => r.duration);
                 return [m('runlogd:lines-placed'), m('runlogd:lines-painted'),
                         nav.domContentLoadedEventEnd, api]")
            .await;
        let f = |i: usize| v[i].as_f64().unwrap_or(f64::NAN);
        Opening {
            placed: f(0),
            painted: f(1),
            dom_ready: f(2),
            api: v[3]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_f64).collect())
                .unwrap_or_default(),
        }
    }

    /// Scrolls the log `lines` lines down (`dir` 1) or up (-1), a fixed step
    /// each frame, and returns what the page saw: elapsed ms, frames, the
    /// longest gap between frames and the long tasks meanwhile.
    async fn measure_scroll(&self, dir: i32, lines: u64) -> Value {
        self.js(&format!(
            "window.__scroll = null;
             const log = document.getElementById('log');
             const at = () => {{
               const b = log.getBoundingClientRect();
               const e = document.elementFromPoint(b.left + 40, b.top + b.height / 2);
               const r = e && e.closest('.row');
               return r ? Number(r.dataset.line) : null;
             }};
             const from = at();
             let t0 = null, last = null, frames = 0, maxGap = 0;
             const tick = (now) => {{
               if (t0 === null) {{ t0 = now; last = now; }}
               maxGap = Math.max(maxGap, now - last); last = now; frames++;
               const cur = at();
               window.__progress = [cur, frames, Math.round(now - t0)];
               const done = cur !== null && Math.abs(cur - from) >= {lines};
               if (done || now - t0 > 180000) {{
                 const tasks = window.__longtasks
                   .filter(t => t.startTime + t.duration >= t0 && t.startTime <= now)
                   .map(t => [Math.round(t.startTime - t0), Math.round(t.duration)]);
                 const pages = performance.getEntriesByName('runlogd:page')
                   .filter(m => m.startTime >= t0 && m.startTime <= now).map(m => m.duration);
                 window.__scroll = {{ from, to: cur, ms: now - t0, frames, maxGap, tasks, pageMs: pages,
                   timedOut: !done, pages: Number(document.getElementById('position').dataset.pages) }};
                 return;
               }}
               log.scrollBy(0, {step});
               requestAnimationFrame(tick);
             }};
             requestAnimationFrame(tick);",
            step = dir * PERF_SCROLL_STEP_PX as i32,
        ))
        .await;
        let deadline = Instant::now() + Duration::from_secs(190);
        loop {
            let v = self.js("return window.__scroll").await;
            if !v.is_null() {
                return v;
            }
            if Instant::now() > deadline {
                let state = self
                    .js(
                        "return [window.__progress, document.getElementById('notice').textContent,
                                 document.getElementById('position').textContent]",
                    )
                    .await;
                panic!("the scroll never finished: {state}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// A measurement, not a test of the targets (timings are not asserted: the
/// machines are noisy). Opens a generated 1M-line log at the top and at a
/// permalink to its middle, several times each, and scrolls 10,000 lines
/// down and back up; prints the figures and writes them to the "web viewer"
/// section of `benches/RESULTS.md`. Run it with
/// `cargo test --test integration -- --ignored viewer_perf --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run on demand; it rewrites a section of benches/RESULTS.md"]
async fn viewer_perf() {
    let _serial = SERIAL.lock().await;
    let load_before = machine_load();
    let dirs = Dirs::new();
    let log_dir = dirs.repo().join("LogFiles");
    // About 72 bytes a line in the corpus's large runs: 75 MB is just over
    // a million lines.
    let spec = corpus::CorpusSpec {
        runs: 1,
        total_bytes: 75_000_000,
        large_runs: 1,
        large_bytes: 75_000_000,
        seed: 11,
    };
    let made = corpus::generate(&log_dir, &spec).unwrap_or_else(|e| panic!("corpus: {e}"));
    let run = corpus::large_run_id(0);
    let started = Instant::now();
    let s = TestServer::start(dirs.config()).await;
    let indexed_in = started.elapsed();
    let total = s
        .get(
            &format!("/api/v1/logs?run_min={run}&run_max={run}"),
            Some(&s.reader()),
        )
        .await
        .body["data"][0]["lines_total"]
        .as_u64()
        .unwrap_or(0);
    assert!(total >= 1_000_000, "a 1M-line log: {total} lines");
    let middle = total / 2;
    println!(
        "viewer_perf: run {run}, {total} lines, {:.1} MB, indexed in {:.1} s",
        made.bytes as f64 / 1e6,
        indexed_in.as_secs_f64()
    );
    let t = s.reader();
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, &format!("/runs/{run}"))
        .await;

    let top_path = format!("/runs/{run}");
    let middle_path = format!("/runs/{run}#L{middle}");
    let mut top = Vec::new();
    let mut mid = Vec::new();
    // One unmeasured warm-up of each, then alternating.
    b.measure_opening(&s.base, &top_path, 1).await;
    b.measure_opening(&s.base, &middle_path, middle).await;
    for _ in 0..PERF_OPENINGS {
        top.push(b.measure_opening(&s.base, &top_path, 1).await);
        mid.push(b.measure_opening(&s.base, &middle_path, middle).await);
    }

    // Long tasks: an observer registered before scrolling, checked to see
    // a task it must see (a 150 ms busy loop) before anything is measured.
    b.measure_opening(&s.base, &middle_path, middle).await;
    b.js("window.__longtasks = [];
          new PerformanceObserver((l) => { window.__longtasks.push(...l.getEntries()); })
            .observe({ type: 'longtask', buffered: true });
          setTimeout(() => { const t = performance.now(); while (performance.now() - t < 150) {} }, 0);")
        .await;
    b.until(
        "the observer to see a 150 ms task",
        "return window.__longtasks.some(t => t.duration >= 150)",
    )
    .await;
    let mut scrolls = Vec::new();
    for round in 1..=PERF_SCROLL_ROUNDS {
        scrolls.push((
            format!("down {round}"),
            b.measure_scroll(1, PERF_SCROLL_LINES).await,
        ));
        scrolls.push((
            format!("up {round}"),
            b.measure_scroll(-1, PERF_SCROLL_LINES).await,
        ));
    }
    b.screenshot("perf-after-scroll").await;
    b.stop().await;
    s.stop().await;
    let load_after = machine_load();

    for (name, v) in &scrolls {
        println!(
            "viewer_perf: long tasks scrolling {name} ([ms after start, ms]): {}",
            v["tasks"]
        );
        assert_eq!(v["timedOut"], json!(false), "scrolling {name}: {v}");
        assert!(v["pages"].as_u64().unwrap_or(99) <= 8, "{name}: {v}");
    }
    let field = |v: &[Opening], f: fn(&Opening) -> f64| v.iter().map(f).collect::<Vec<f64>>();
    let line = |name: &str, v: &[Opening]| {
        let painted = field(v, |o| o.painted);
        let placed = field(v, |o| o.placed);
        let dom = field(v, |o| o.dom_ready);
        let api = field(v, |o| o.api.iter().copied().fold(0.0, f64::max));
        let requests = v.first().map_or(0, |o| o.api.len());
        format!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {requests} × ≤ {:.0} | {} |",
            median(&painted),
            max_of(&painted),
            median(&placed),
            median(&dom),
            median(&painted) - median(&placed),
            median(&api),
            if median(&painted) <= 300.0 {
                "met"
            } else {
                "missed"
            },
        )
    };
    let tasks = |v: &Value| -> (usize, f64) {
        let t: Vec<f64> = v["tasks"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t[1].as_f64()).collect())
            .unwrap_or_default();
        (t.len(), if t.is_empty() { 0.0 } else { max_of(&t) })
    };
    let scroll_line = |name: &str, v: &Value| {
        let (n, longest) = tasks(v);
        let lines = v["to"].as_i64().unwrap_or(0) - v["from"].as_i64().unwrap_or(0);
        let pages: Vec<f64> = v["pageMs"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default();
        format!(
            "| {name} | {} → {} ({lines:+}) | {:.1} | {} | {:.0} | {} × {:.1} / {:.1} | {n} | {longest:.0} | {} |",
            v["from"],
            v["to"],
            v["ms"].as_f64().unwrap_or(0.0) / 1000.0,
            v["frames"],
            v["maxGap"].as_f64().unwrap_or(0.0),
            pages.len(),
            median(&pages),
            max_of(&pages),
            if longest <= 100.0 { "met" } else { "missed" },
        )
    };
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let text = format!(
        "### Web viewer ({when})\n\n\
         Measured by `cargo test --test integration -- --ignored viewer_perf --nocapture` \
         (dev profile: runlogd unoptimised, dependencies at opt-level 2) in headless \
         Chromium on 127.0.0.1. Run {run} from the corpus generator (`benches/support/corpus.rs`, seed 11): {total} lines, \
         {:.1} MB. Machine: {load_before} before, {load_after} after.\n\n\
         Opening the run view, ms from navigation start, {PERF_OPENINGS} openings each \
         after a warm-up: *painted* is the frame after the first lines are in place \
         (the viewer's `runlogd:lines-painted` mark), *placed* when they are in the DOM \
         and scrolled to (`runlogd:lines-placed`), *API* the slowest log request before that.\n\n\
         | opening | painted, median | painted, worst | placed | DOMContentLoaded | paint | API requests, ms | ≤ 300 ms |\n\
         |---|---:|---:|---:|---:|---:|---|---|\n\
         {}\n{}\n\n\
         Scrolling {PERF_SCROLL_LINES} lines down from line {middle} and back up, {PERF_SCROLL_ROUNDS} times, \
         {PERF_SCROLL_STEP_PX} px a frame, \
         long tasks from a `PerformanceObserver` (checked first to report a 150 ms task); \
         *pages added* times the viewer's own work for each page of 100 lines (the \
         `runlogd:page` measure: rows built, inserted, layout read to keep the position):\n\n\
         | direction | line in the middle of the view | s | frames | longest frame gap, ms | pages added × ms, median / worst | long tasks | longest, ms | ≤ 100 ms |\n\
         |---|---|---:|---:|---:|---|---:|---:|---|\n\
         {}",
        made.bytes as f64 / 1e6,
        line("top", &top),
        line(&format!("`#L{middle}`"), &mid),
        scrolls
            .iter()
            .map(|(name, v)| scroll_line(name, v))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    println!("{text}");
    write_results_section("web viewer", &text);
}

// ---- failure signatures: the Problems panel and the front page's failures ----

const PES: &str = "Ignoring a broken PES packet";

/// A count as the pages write it (`Intl.NumberFormat("en-US")`): 2,516.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `n word` or `n words`, as the pages write it.
fn counted(n: u64, word: &str) -> String {
    format!("{} {word}{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// Brute force over a bundled file: the numbers of its error and critical
/// lines whose text contains `needle`.
fn error_lines_containing(s: &TestServer, run: u64, needle: &str) -> Vec<u64> {
    let path = s.repo.join("LogFiles").join(format!("{run}.txt"));
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")))
        .into_owned();
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            (l.starts_with("[ERROR]") || l.starts_with("[CRITICAL]")) && l.contains(needle)
        })
        .map(|(i, _)| i as u64 + 1)
        .collect()
}

/// The entries of a list of the pages (`#problems-list` or a failure list)
/// with what each shows.
async fn entries(b: &Browser, list: &str) -> Vec<Value> {
    let v = b
        .js(&format!(
            "return [...document.querySelectorAll({} + ' > li')].map(li => {{
               const t = (css) => {{ const e = li.querySelector(css); return e ? e.textContent : null; }};
               const a = li.querySelector('.seen a, .first a');
               return {{ signature: li.dataset.signature, template: t('.tpl'), count: t('.count'),
                 runs: t('.runs'), lines: t('.lines'), isNew: Boolean(li.querySelector('.badge-new')),
                 seen: t('.seen'), first: t('.first'), href: a ? a.getAttribute('href') : null }};
             }})",
            json!(list)
        ))
        .await;
    v.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("entries: {v}"))
}

/// Run 9405's Problems panel: its signatures in order of first occurrence,
/// with counts that match the API and a count over the file itself, "new"
/// and "seen in N runs since run X" as the API and the other bundled files
/// say, and `n` / `N` stepping through the chosen problem's lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_problems_panel_lists_a_runs_failures_in_order_and_n_steps_through_one() {
    let _serial = SERIAL.lock().await;
    let (_dirs, s) = bundled().await;
    let t = s.reader();

    let api = s
        .get("/api/v1/runs/9405/signatures?limit=100", Some(&t))
        .await;
    assert_eq!(api.status, 200, "{}", api.body);
    assert_eq!(api.body["pagination"]["has_more"], json!(false));
    let items = api.body["data"].as_array().cloned().unwrap_or_default();
    assert!(items.len() >= 3, "{}", api.body);
    let firsts: Vec<u64> = items
        .iter()
        .map(|i| i["first_line"].as_u64().unwrap_or(0))
        .collect();
    assert!(
        firsts.windows(2).all(|w| w[0] < w[1]),
        "in order of first occurrence: {firsts:?}"
    );
    let pes = items
        .iter()
        .find(|i| i["template"].as_str().is_some_and(|t| t.contains(PES)))
        .unwrap_or_else(|| panic!("no broken-PES signature in {}", api.body));
    let pes_id = pes["signature"].as_str().unwrap_or_default().to_owned();

    // The count, three ways: the file, the logs API's text search, and the
    // lines the logs API gives for the signature.
    let in_file = error_lines_containing(&s, 9405, PES);
    assert_eq!(in_file.len(), 2516, "the bundled file");
    let (by_text, _) = s
        .walk(
            9405,
            &format!("level=error,critical&contains={}", common::enc(PES)),
            &t,
        )
        .await;
    let (by_signature, _) = s
        .walk(
            9405,
            &format!("signature={pes_id}&level=error,critical"),
            &t,
        )
        .await;
    let numbers = |lines: &[Value]| -> Vec<u64> {
        lines
            .iter()
            .map(|l| l["line"].as_u64().unwrap_or(0))
            .collect()
    };
    assert_eq!(numbers(&by_text), in_file);
    assert_eq!(numbers(&by_signature), in_file);
    assert_eq!(pes["count"], json!(in_file.len()));
    assert_eq!(pes["first_line"], json!(in_file[0]));
    // Seen before: the runs whose file has it, brute force.
    let runs_with: Vec<u64> = (9401..=9405)
        .filter(|r| !error_lines_containing(&s, *r, PES).is_empty())
        .collect();
    assert_eq!(runs_with, vec![9401, 9405]);
    assert_eq!(pes["runs_seen"], json!(runs_with.len()));
    assert_eq!(pes["first_seen_run"], json!(runs_with[0]));
    assert_eq!(pes["new"], json!(false));
    // A signature the API calls new has no fixed part in an earlier file's
    // error lines.
    let new_one = items
        .iter()
        .find(|i| i["new"] == json!(true))
        .unwrap_or_else(|| panic!("run 9405 has a new signature: {}", api.body));
    let template = new_one["template"].as_str().unwrap_or_default();
    let fixed = template
        .split("<*>")
        .max_by_key(|p| p.len())
        .unwrap_or_default()
        .trim_start_matches("[ERROR]")
        .trim_start_matches("[CRITICAL]")
        .trim();
    assert!(fixed.len() >= 8, "a fixed part to look for in {template:?}");
    for run in 9401..9405 {
        assert!(
            error_lines_containing(&s, run, fixed).is_empty(),
            "{fixed:?} is new in 9405 but in run {run}"
        );
    }

    // The page.
    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/runs/9405").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    b.until(
        "the problems",
        &format!(
            "return document.querySelectorAll('#problems-list > li').length === {}",
            items.len()
        ),
    )
    .await;
    let shown = entries(&b, "#problems-list").await;
    for (item, entry) in items.iter().zip(&shown) {
        let count = item["count"].as_u64().unwrap_or(0);
        let runs_seen = item["runs_seen"].as_u64().unwrap_or(0);
        let first_seen = item["first_seen_run"].as_u64().unwrap_or(0);
        let signature = item["signature"].as_str().unwrap_or_default();
        assert_eq!(entry["signature"], item["signature"]);
        assert_eq!(entry["template"], item["template"]);
        assert_eq!(entry["count"], json!(counted(count, "line")));
        assert_eq!(entry["isNew"], item["new"]);
        assert_eq!(
            entry["seen"],
            json!(format!(
                "seen in {} since run {first_seen}",
                counted(runs_seen, "run")
            ))
        );
        assert_eq!(
            entry["href"],
            json!(format!("/runs/{first_seen}?signature={signature}"))
        );
    }
    let pes_entry = shown
        .iter()
        .find(|e| e["signature"] == json!(pes_id))
        .unwrap_or_else(|| panic!("{shown:?}"));
    assert_eq!(pes_entry["count"], json!("2,516 lines"));
    assert_eq!(pes_entry["seen"], json!("seen in 2 runs since run 9401"));
    assert_eq!(pes_entry["isNew"], json!(false));
    let new_entry = shown
        .iter()
        .find(|e| e["signature"] == new_one["signature"])
        .unwrap_or_else(|| panic!("{shown:?}"));
    assert_eq!(new_entry["isNew"], json!(true));
    b.screenshot("problems").await;

    // Choosing the broken-PES problem steps onto its first line; n and N
    // go on through its lines, counted against the API's count.
    let pick = format!("#problems-list > li[data-signature='{pes_id}'] button.pick");
    b.click(&pick).await;
    let at = |k: usize| {
        format!(
            "return document.getElementById('find-count').textContent === '{} of 2,516'
               && document.querySelector(\"#problems-list > li[data-signature='{pes_id}'] .pos\").textContent === '{} of 2,516'
               && document.getElementById('L{}') && document.getElementById('L{}').classList.contains('current')",
            k + 1,
            k + 1,
            in_file[k],
            in_file[k]
        )
    };
    b.until("the problem's first line", &at(0)).await;
    assert!(b.row_on_screen(in_file[0]).await);
    assert_eq!(
        b.js(&format!(
            "return document.querySelector({}).getAttribute('aria-pressed')",
            json!(pick)
        ))
        .await,
        json!("true")
    );
    let url = b
        .client
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        url.as_str().contains(&format!("signature={pes_id}")),
        "{url}"
    );
    let log = b
        .client
        .find(Locator::Css("#log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
    b.until("the problem's second line", &at(1)).await;
    log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
    b.until("the problem's third line", &at(2)).await;
    log.send_keys("N").await.unwrap_or_else(|e| panic!("{e}"));
    b.until("back to the second line", &at(1)).await;
    // One line is the current one.
    let between = b
        .js("return [...document.querySelectorAll('#lines .row.current')].map(r => Number(r.dataset.line))")
        .await;
    assert_eq!(between, json!([in_file[1]]));
    b.screenshot("problems-stepping").await;
    b.stop().await;
    s.stop().await;
}

/// The front page's failures over the bundled runs: the broken-PES failure
/// with its runs and lines, its runs listed, and a run's link opening the
/// run page positioned on that failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_front_page_lists_failures_and_links_to_a_run_opened_on_one() {
    let _serial = SERIAL.lock().await;
    let (_dirs, s) = bundled().await;
    let t = s.reader();
    let per_run: Vec<(u64, Vec<u64>)> = (9401..=9405)
        .map(|r| (r, error_lines_containing(&s, r, PES)))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    let total: usize = per_run.iter().map(|(_, l)| l.len()).sum();
    assert_eq!(total, 2519, "the bundled files");

    // The default window: the last 100 runs, from the highest run id down.
    let run_min = 9405 - 100 + 1;
    let api = |sort: &str| {
        let path = format!("/api/v1/signatures?sort={sort}&run_min={run_min}&limit=10");
        let t = t.clone();
        let s = &s;
        async move {
            let r = s.get(&path, Some(&t)).await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.body["data"].as_array().cloned().unwrap_or_default()
        }
    };
    let frequent = api("runs").await;
    let new = api("new").await;
    let pes = frequent
        .iter()
        .find(|i| i["template"].as_str().is_some_and(|t| t.contains(PES)))
        .unwrap_or_else(|| panic!("no broken-PES failure in {frequent:?}"));
    let pes_id = pes["signature"].as_str().unwrap_or_default().to_owned();
    assert_eq!(pes["runs"], json!(per_run.len()));
    assert_eq!(pes["lines"], json!(total));

    let b = Browser::start().await;
    b.open_with_token(&s.base, &t, "/").await;
    b.until(
        "both failure lists",
        &format!(
            "return document.querySelectorAll('#frequent > li').length === {} &&
               document.querySelectorAll('#new-failures > li').length === {}",
            frequent.len(),
            new.len()
        ),
    )
    .await;
    assert_eq!(
        b.text("#fail-window-note").await,
        format!("runs {run_min} to 9405")
    );
    for (list, items) in [("#frequent", &frequent), ("#new-failures", &new)] {
        let shown = entries(&b, list).await;
        assert_eq!(shown.len(), items.len());
        for (item, entry) in items.iter().zip(&shown) {
            assert_eq!(entry["signature"], item["signature"], "{list}");
            assert_eq!(entry["template"], item["template"], "{list}");
            let runs = item["runs"].as_u64().unwrap_or(0);
            let lines = item["lines"].as_u64().unwrap_or(0);
            assert_eq!(entry["runs"], json!(format!("in {}", counted(runs, "run"))));
            assert_eq!(entry["lines"], json!(counted(lines, "line")));
            assert_eq!(
                entry["first"],
                json!(format!("first seen in run {}", item["first_seen_run"]))
            );
        }
    }
    let li = format!("#frequent > li[data-signature='{pes_id}']");
    assert_eq!(b.text(&format!("{li} .runs")).await, "in 2 runs");
    assert_eq!(b.text(&format!("{li} .lines")).await, "2,519 lines");
    assert_eq!(
        b.text(&format!("{li} .first")).await,
        "first seen in run 9401"
    );

    // Its runs, newest first, each with its count and first line.
    b.click(&format!("{li} button.show-runs")).await;
    b.until(
        "the failure's runs",
        &format!(
            "return document.querySelectorAll(\"{li} .sig-runs > li[data-run]\").length === {}",
            per_run.len()
        ),
    )
    .await;
    let runs = b
        .js(&format!(
            "return [...document.querySelectorAll(\"{li} .sig-runs > li[data-run]\")].map(r => r.textContent)"
        ))
        .await;
    let expected: Vec<String> = per_run
        .iter()
        .rev()
        .map(|(run, lines)| {
            format!(
                "Run {run} · {}, first at line {}",
                counted(lines.len() as u64, "line"),
                thousands(lines[0])
            )
        })
        .collect();
    let runs: Vec<String> = runs
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.split(" · landed").next().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(runs, expected);
    assert_eq!(
        b.js(&format!(
            "return document.querySelector(\"{li} button.show-runs\").getAttribute('aria-expanded')"
        ))
        .await,
        json!("true")
    );
    b.screenshot("failures").await;

    // A narrower window is computed from the highest run id.
    b.js(
        "const s = document.getElementById('fail-window'); s.value = '10';
          s.dispatchEvent(new Event('change')); return true",
    )
    .await;
    b.until(
        "the window of the last 10 runs",
        "return document.getElementById('fail-window-note').textContent === 'runs 9396 to 9405'",
    )
    .await;
    b.until(
        "the failure in the narrower window",
        &format!("return document.querySelector(\"{li} .runs\")"),
    )
    .await;

    // Through to run 9405, opened on the failure.
    b.click(&format!("{li} button.show-runs")).await;
    let link = format!("{li} .sig-runs > li[data-run='9405'] a");
    b.until(
        "the run link",
        &format!("return document.querySelector(\"{link}\")"),
    )
    .await;
    assert_eq!(
        b.js(&format!(
            "return document.querySelector(\"{link}\").getAttribute('href')"
        ))
        .await,
        json!(format!("/runs/9405?signature={pes_id}"))
    );
    b.click(&link).await;
    let first = per_run[per_run.len() - 1].1[0];
    b.until(
        "the run page on the failure's first line",
        &format!(
            "const b = document.querySelector(\"#problems-list > li[data-signature='{pes_id}'] button.pick\");
             return b && b.getAttribute('aria-pressed') === 'true'
               && document.getElementById('find-count').textContent === '1 of 2,516'
               && document.getElementById('L{first}') && document.getElementById('L{first}').classList.contains('current')"
        ),
    )
    .await;
    assert!(b.row_on_screen(first).await, "line {first} is on screen");
    assert_eq!(
        b.js("return location.pathname + location.search").await,
        json!(format!("/runs/9405?signature={pes_id}"))
    );
    b.stop().await;
    s.stop().await;
}

/// A failure whose message is markup is shown as text, in the Problems
/// panel and on the front page, and runs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_a_failure_template_is_shown_as_text_and_runs_nothing() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    let content = "[INFO] start\n\
                   [ERROR] <img src=x onerror=window.pwned=1> failed after 12 tries\n\
                   [ERROR] <img src=x onerror=window.pwned=1> failed after 30 tries\n\
                   [CRITICAL] <script>window.pwned=2</script>\n\
                   [INFO] end\n";
    dirs.write_log(60, content);
    let (s, b) = serve_and_open(&dirs, "/runs/60").await;
    let t = s.reader();
    let api = s.get("/api/v1/runs/60/signatures", Some(&t)).await;
    assert_eq!(api.status, 200, "{}", api.body);
    let items = api.body["data"].as_array().cloned().unwrap_or_default();
    let templates: Vec<String> = items
        .iter()
        .map(|i| i["template"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(templates.len(), 2, "{templates:?}");
    assert!(
        templates[0].contains("<img src=") && templates[0].contains(" onerror="),
        "{templates:?}"
    );
    assert!(templates[1].contains("<script>"), "{templates:?}");
    assert_eq!(items[0]["count"], json!(2));

    b.until(
        "the problems",
        "return document.querySelectorAll('#problems-list > li').length === 2",
    )
    .await;
    let shown = entries(&b, "#problems-list").await;
    let shown: Vec<Value> = shown.iter().map(|e| e["template"].clone()).collect();
    assert_eq!(shown, vec![json!(templates[0]), json!(templates[1])]);
    assert_eq!(
        b.js("return document.querySelectorAll('#problems img, #problems script').length")
            .await,
        json!(0)
    );
    // Stepping through the markup problem marks its lines.
    b.click("#problems-list > li:first-child button.pick").await;
    b.until(
        "the markup problem's first line",
        "return document.getElementById('find-count').textContent === '1 of 2'
           && document.getElementById('L2').classList.contains('current')",
    )
    .await;

    b.goto(&format!("{}/", s.base)).await;
    b.until(
        "the failures",
        "return document.querySelectorAll('#frequent > li').length === 2",
    )
    .await;
    let frequent: Vec<Value> = entries(&b, "#frequent")
        .await
        .iter()
        .map(|e| e["template"].clone())
        .collect();
    let mut expected: Vec<Value> = templates.iter().map(|t| json!(t)).collect();
    let mut got = frequent.clone();
    expected.sort_by_key(|v| v.to_string());
    got.sort_by_key(|v| v.to_string());
    assert_eq!(got, expected);
    assert_eq!(
        b.js("return document.querySelectorAll('.failures img, .failures script').length")
            .await,
        json!(0)
    );
    assert_eq!(b.js("return typeof window.pwned").await, json!("undefined"));
    b.stop().await;
    s.stop().await;
}

/// The `mark`ed texts of the rows on the run page, by line.
async fn marked_rows(b: &Browser) -> Vec<(u64, Vec<String>)> {
    let got = b
        .js("return [...document.querySelectorAll('#lines .row')].map(r => \
             [Number(r.dataset.line), [...r.querySelectorAll('.msg mark')].map(m => m.textContent)])")
        .await;
    serde_json::from_value(got).unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_filter_keeps_and_marks_what_the_server_matched() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(20, mixed_log(300));
    let (s, b) = serve_and_open(&dirs, "/runs/20").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    // Case-sensitive, as the server matches: `Needle` is in the warnings,
    // `needle` nowhere.
    let pattern = r"step 1[2-4]\d (ok|failed|slow Needle)";
    b.type_into("#f-contains", pattern).await;
    b.click("#f-regex").await;
    b.click("#f-apply").await;
    b.until(
        "the regex filter",
        "return location.search.includes('regex=') && document.getElementById('L120')",
    )
    .await;
    b.until("its last line", "return document.getElementById('L149')")
        .await;
    let re = regex::Regex::new(pattern).unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<(u64, Vec<String>)> = (1..=300)
        .filter_map(|i| {
            let text = line_text(i);
            re.find(&text).map(|m| (i, vec![m.as_str().to_owned()]))
        })
        .collect();
    assert_eq!(want.len(), 30);
    assert_eq!(marked_rows(&b).await, want);
    // The form shows the pattern, the toggle on, and says what is shown.
    assert_eq!(
        b.js("return [document.getElementById('f-contains').value, document.getElementById('f-regex').checked]")
            .await,
        json!([pattern, true])
    );
    assert!(b.text("#filter-state").await.contains("regular expression"));
    b.screenshot("run-regex").await;

    // A pattern the server refuses is explained, not shown as no lines.
    b.goto(&format!("{}/runs/20?regex=%28unclosed", s.base))
        .await;
    b.until(
        "the refusal",
        "return document.body.textContent.includes('unclosed')",
    )
    .await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regex_search_across_runs_marks_what_the_server_matched() {
    let _serial = SERIAL.lock().await;
    let (_dirs, s) = bundled().await;
    let b = Browser::start().await;
    b.open_with_token(&s.base, &s.reader(), "/").await;
    b.type_into("#q-contains", r"libtesseract\.so\.\d+").await;
    b.click("#q-regex").await;
    b.click("#q-submit").await;
    b.until(
        "search results",
        "return document.querySelectorAll('#results > li').length > 0",
    )
    .await;
    let runs = b
        .js("return [...document.querySelectorAll('#results > li')].map(r => Number(r.dataset.run))")
        .await;
    assert_eq!(runs, json!([9402]));
    let marks = b
        .js("return [...document.querySelectorAll('#results mark')].map(m => m.textContent)")
        .await;
    assert_eq!(
        marks,
        json!([
            "libtesseract.so.5",
            "libtesseract.so.5",
            "libtesseract.so.5"
        ])
    );
    let url = b
        .client
        .current_url()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(url.as_str().contains("regex=libtesseract"), "{url}");
    b.screenshot("search-regex").await;
    b.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_steps_through_a_regex_and_marks_what_the_server_matched() {
    let _serial = SERIAL.lock().await;
    let dirs = Dirs::new();
    dirs.write_log(22, mixed_log(3000));
    let (s, b) = serve_and_open(&dirs, "/runs/22").await;
    b.until("the first lines", "return document.getElementById('L1')")
        .await;
    // Warnings of steps 2,005 to 2,995: 100 of them.
    b.click("#find-regex").await;
    b.type_into("#find", "step 2\\d\\d5 slow\u{E007}").await; // Enter
    b.until(
        "the first match",
        "return document.getElementById('find-count').textContent.startsWith('1 of')",
    )
    .await;
    b.until(
        "the first match marked",
        "const r = document.getElementById('L2005'); return r && r.classList.contains('current') && r.querySelector('mark')",
    )
    .await;
    assert_eq!(b.text("#L2005 mark").await, "step 2005 slow");
    let log = b
        .client
        .find(Locator::Css("#log"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    log.send_keys("n").await.unwrap_or_else(|e| panic!("{e}"));
    b.until(
        "the second match",
        "return document.getElementById('L2015') && document.getElementById('L2015').classList.contains('current')",
    )
    .await;
    assert_eq!(b.text("#L2015 mark").await, "step 2015 slow");
    // Case-sensitive, as the server matches; lines it did not match carry
    // no mark.
    assert_eq!(
        b.js("return document.querySelectorAll('#L2010 mark, #L2016 mark').length")
            .await,
        json!(0)
    );
    b.until(
        "the exact count",
        "return document.getElementById('find-count').textContent === '2 of 100'",
    )
    .await;
    b.stop().await;
    s.stop().await;
}
