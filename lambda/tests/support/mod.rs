//! A real Lambda runtime API (cargo-lambda's emulator), the release function under it, and a
//! real S3 API (moto), all on 127.0.0.1, started per test and stopped when dropped.

// Each test binary uses part of this.
#![allow(dead_code)]

use serde_json::Value;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tool from the project's venv (`make setup` installs cargo-lambda and moto there).
fn venv_tool(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run `make setup` (it installs cargo-lambda and moto into .venv)",
        path.display()
    );
    path
}

/// A port nothing listens on, never one handed out before in this process: tests run in
/// parallel, and a port released here could otherwise be handed to another test before the
/// first test's server binds it (both then talk to one server, which vanishes with its test).
fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// Whether a server accepts connections on 127.0.0.1:`port`. A connect to a free port in the
/// ephemeral range can connect to itself (TCP simultaneous open, when the kernel picks that
/// very port as the source): that is no server.
fn listening(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// Starts the server `command(port)` builds on a fresh port and waits until it listens and still
/// does a moment later. One that exits or stops listening (seen now and then in CI while other
/// tests start servers in parallel) is reported with its output and replaced, up to 3 times.
fn start_server(what: &str, command: impl Fn(u16) -> Command) -> (u16, Process) {
    for _ in 0..3 {
        let port = free_port();
        let log = tempfile::NamedTempFile::new().unwrap();
        let mut process = Process(
            command(port)
                .stdout(Stdio::null())
                .stderr(log.reopen().unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {what}: {e}")),
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while !listening(port) && process.0.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "{what} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        if process.0.try_wait().ok().flatten().is_none() && listening(port) {
            return (port, process);
        }
        eprintln!(
            "{what} on port {port} exited or stopped listening: {}",
            std::fs::read_to_string(log.path()).unwrap_or_default()
        );
    }
    panic!("{what} would not stay up; see the output above")
}

/// A child process killed on drop, so a failing test leaves nothing running.
pub struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis`: the runtime API the function polls, and the invoke
/// and function-URL endpoints callers use.
pub struct Emulator {
    port: u16,
    _process: Process,
}

impl Emulator {
    pub fn start() -> Self {
        let (port, process) = start_server("cargo lambda watch", |port| {
            let mut command = Command::new(venv_tool("cargo-lambda"));
            command
                .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .args(["-P", &port.to_string()])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
            command
        });
        Self {
            port,
            _process: process,
        }
    }

    /// Starts the release function under this emulator with `env` added to its environment;
    /// its log lines (stdout) go to `log`.
    pub fn function(&self, env: &[(&str, String)], log: &Path) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_designer-lambda"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", "_")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "4096")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the function");
        Process(child)
    }

    fn client() -> reqwest::blocking::Client {
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap()
    }

    /// A direct (RequestResponse) invocation: status and the JSON answer. A function error
    /// comes back as the emulator's 500 with `errorType` and `errorMessage`.
    pub fn invoke(&self, payload: &Value) -> (u16, Value) {
        self.invoke_raw(&payload.to_string())
    }

    /// A direct invocation with these exact payload bytes (which need not be JSON).
    pub fn invoke_raw(&self, payload: &str) -> (u16, Value) {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/_/invocations",
            self.port
        );
        let response = Self::client()
            .post(url)
            .body(payload.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().unwrap();
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        (status, json)
    }

    /// A function-URL request: status, the `x-designer-cache` header, and the raw body.
    pub fn http(&self, method: &str, path: &str, body: &str) -> (u16, Option<String>, String) {
        let url = format!("http://127.0.0.1:{}/lambda-url/_{path}", self.port);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = Self::client()
            .request(method, url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        let cache = response
            .headers()
            .get("x-designer-cache")
            .map(|v| v.to_str().unwrap().to_string());
        (status, cache, response.text().unwrap())
    }
}

/// moto's S3 API on 127.0.0.1 with one public-read bucket; moto checks no signatures, so plain
/// HTTP writes objects too.
pub struct S3 {
    pub port: u16,
    pub bucket: &'static str,
    _process: Process,
}

impl S3 {
    pub fn start() -> Self {
        let (port, process) = start_server("moto_server", |port| {
            let mut command = Command::new(venv_tool("moto_server"));
            command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            command
        });
        let s3 = Self {
            port,
            bucket: "designer",
            _process: process,
        };
        // Public-read, so that plain HTTP can fetch objects (training images by URL).
        let created = reqwest::blocking::Client::new()
            .put(s3.url(""))
            .header("x-amz-acl", "public-read")
            .send()
            .unwrap();
        assert!(created.status().is_success(), "{:?}", created.text());
        s3
    }

    /// The object's plain HTTP URL.
    pub fn url(&self, key: &str) -> String {
        format!("http://127.0.0.1:{}/{}/{key}", self.port, self.bucket)
    }

    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    pub fn put(&self, key: &str, bytes: Vec<u8>) {
        let response = reqwest::blocking::Client::new()
            .put(self.url(key))
            .body(bytes)
            .send()
            .unwrap();
        assert!(response.status().is_success());
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let response = reqwest::blocking::get(self.url(key)).unwrap();
        response
            .status()
            .is_success()
            .then(|| response.bytes().unwrap().to_vec())
    }

    /// What the function needs in its environment to use this S3 API.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

/// Decodes a design's PNG and returns its size.
pub fn png_size(design: &Value) -> (u32, u32) {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(design["png_base64"].as_str().unwrap())
        .unwrap();
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png).unwrap();
    (image.width(), image.height())
}
