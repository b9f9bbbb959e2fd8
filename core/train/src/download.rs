//! Training images from the web: a JSONL manifest of
//! `{"url": ..., "room_type": ..., "style": ...}` lines, downloaded in parallel with `reqwest`
//! and streamed through the shuffle buffer.
//!
//! Every download is defensive: HEAD first (a Content-Length over the cap skips the file), the
//! same cap enforced while the body streams in (a server may omit or lie about the length),
//! connect and total timeouts, retries with backoff on 5xx and timeouts, redirects to
//! loopback, private and link-local addresses refused unless allowed, and a content check and
//! bounded decode so a decompression bomb is refused. A bad item is skipped and counted, never
//! fatal.

use crate::dataset::{
    DatasetError, Example, ExampleSource, Skip, SkipCounts, SourceError, finish_draw,
};
use crate::shuffle::ShuffleBuffer;
use designer_core::image::{decode_bounded_any, rgb_to_tensor, square};
use designer_core::labels::{RoomType, Style};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct DownloadConfig {
    /// MAX_IMAGE_SIZE: files larger than this many bytes are skipped.
    pub max_bytes: u64,
    pub connect_timeout: Duration,
    /// For a whole request, body included.
    pub timeout: Duration,
    /// Further attempts after a 5xx answer or a timeout.
    pub retries: u32,
    /// Wait before the first retry; doubled before each next one.
    pub backoff: Duration,
    /// Downloads in flight at once.
    pub parallel: usize,
    /// Follow redirects to loopback, private and link-local addresses (off: a public URL must
    /// not be able to make the trainer probe the local network).
    pub allow_private_redirects: bool,
}

impl Default for DownloadConfig {
    fn default() -> Self {
        Self {
            max_bytes: 10 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            retries: 3,
            backoff: Duration::from_millis(500),
            parallel: 8,
            allow_private_redirects: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client: {0}")]
pub struct ClientError(String);

/// Whether `ip` is on this machine or a private or link-local network.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // Carrier-grade NAT, 100.64.0.0/10.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || v6.to_ipv4_mapped().is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Whether `url` points at a private address, by its literal IP or what its name resolves to.
fn points_private(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return true;
    };
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return is_private(ip);
    }
    let port = url.port_or_known_default().unwrap_or(80);
    match (host, port).to_socket_addrs() {
        Ok(mut addresses) => addresses.any(|a| is_private(a.ip())),
        // Unresolvable: the request itself will fail as a network error.
        Err(_) => false,
    }
}

pub struct Downloader {
    client: reqwest::blocking::Client,
    config: DownloadConfig,
    decoding: Budget,
    /// GETs sent, retries included.
    gets: std::sync::atomic::AtomicU64,
}

/// What one attempt came to: done, or worth another try.
enum Attempt<T> {
    Done(Result<T, Skip>),
    Retry(Skip),
}

impl Downloader {
    pub fn new(config: DownloadConfig) -> Result<Self, ClientError> {
        let allow_private = config.allow_private_redirects;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if !allow_private && points_private(attempt.url()) {
                attempt.error("redirect to a private address refused")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .redirect(policy)
            .user_agent(concat!("designer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError(e.to_string()))?;
        Ok(Self {
            client,
            config,
            decoding: Budget::new(DECODE_BUDGET_BYTES),
            gets: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &DownloadConfig {
        &self.config
    }

    /// GETs sent so far, retries included.
    pub fn fetches(&self) -> u64 {
        self.gets.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The file's bytes, at most `max_bytes` of them, retrying 5xx answers and timeouts.
    pub fn fetch(&self, url: &str) -> Result<Vec<u8>, Skip> {
        let mut wait = self.config.backoff;
        let mut attempt = 0;
        loop {
            match self.try_fetch(url) {
                Attempt::Done(result) => return result,
                Attempt::Retry(reason) if attempt >= self.config.retries => return Err(reason),
                Attempt::Retry(_) => {
                    std::thread::sleep(wait);
                    wait *= 2;
                    attempt += 1;
                }
            }
        }
    }

    fn classify(e: &reqwest::Error) -> Attempt<Vec<u8>> {
        if e.is_redirect() {
            Attempt::Done(Err(Skip::Redirect))
        } else if e.is_timeout() {
            Attempt::Retry(Skip::Timeout)
        } else {
            Attempt::Done(Err(Skip::Network))
        }
    }

    fn try_fetch(&self, url: &str) -> Attempt<Vec<u8>> {
        let started = Instant::now();
        let max = self.config.max_bytes;
        // HEAD first: a file that says it is too large is not downloaded at all. Servers that
        // do not answer HEAD properly still get their GET.
        match self.client.head(url).send() {
            Ok(head) if head.status().is_server_error() => return Attempt::Retry(Skip::HttpStatus),
            Ok(head)
                if head.status().is_success()
                    && declared_length(&head).is_some_and(|n| n > max) =>
            {
                return Attempt::Done(Err(Skip::TooLarge));
            }
            Ok(_) => {}
            Err(e) if e.is_redirect() || e.is_timeout() => return Self::classify(&e),
            Err(_) => {}
        }
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let response = match self.client.get(url).send() {
            Ok(r) => r,
            Err(e) => return Self::classify(&e),
        };
        let status = response.status();
        if status.is_server_error() {
            return Attempt::Retry(Skip::HttpStatus);
        }
        if !status.is_success() {
            return Attempt::Done(Err(Skip::HttpStatus));
        }
        if declared_length(&response).is_some_and(|n| n > max) {
            return Attempt::Done(Err(Skip::TooLarge));
        }
        // The body is read against the attempt's deadline: the client's timeout does not end
        // a server that sends a byte a second (a tarpit held a worker for 150 s). One byte
        // past the cap is enough to know the file is too large.
        let deadline = started + self.config.timeout;
        let mut body = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        let mut response = response;
        loop {
            if Instant::now() >= deadline {
                return Attempt::Retry(Skip::Timeout);
            }
            match response.read(&mut chunk) {
                Ok(0) => return Attempt::Done(Ok(body)),
                Ok(n) => {
                    body.extend_from_slice(&chunk[..n]);
                    if body.len() as u64 > max {
                        return Attempt::Done(Err(Skip::TooLarge));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let timed_out = e.kind() == std::io::ErrorKind::TimedOut
                        || e.get_ref()
                            .and_then(|inner| inner.downcast_ref::<reqwest::Error>())
                            .is_some_and(reqwest::Error::is_timeout);
                    return if timed_out {
                        Attempt::Retry(Skip::Timeout)
                    } else {
                        Attempt::Done(Err(Skip::Network))
                    };
                }
            }
        }
    }

    /// The image at `url`, decoded under the size limits of [`designer_core::image`].
    pub fn fetch_image(&self, url: &str) -> Result<::image::RgbImage, Skip> {
        Ok(self.fetch_decoded(url)?.0)
    }

    /// The image at `url`, decoded, with its share of the decode budget: the caller keeps it
    /// while it works on the full-size pixels.
    fn fetch_decoded(&self, url: &str) -> Result<(::image::RgbImage, Grant<'_>), Skip> {
        let bytes = self.fetch(url)?;
        if ::image::guess_format(&bytes).is_err() {
            return Err(Skip::NotImage);
        }
        // The header says how large the pixels will be; the decode waits until that fits.
        let (width, height) = ::image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .map_err(|_| Skip::Decode)?
            .into_dimensions()
            .map_err(|_| Skip::Decode)?;
        // The decoder's pixels (up to 4 bytes each) and their RGB8 copy.
        let grant = self.decoding.take(u64::from(width) * u64::from(height) * 7);
        let image = decode_bounded_any(&bytes).map_err(|_| Skip::Decode)?;
        Ok((image.to_rgb8(), grant))
    }
}

/// Decoded pixels in flight across all download workers stay under this many bytes (8 images
/// that each decode to ~180 MB took a process to 1.45 GB): a worker whose image does not fit
/// waits for the others to finish theirs. An image larger than the whole budget runs alone.
pub const DECODE_BUDGET_BYTES: u64 = 256 << 20;

/// Bytes shared out to the workers' decodes.
struct Budget {
    total: u64,
    left: std::sync::Mutex<u64>,
    freed: std::sync::Condvar,
}

/// A share of the [`Budget`], given back when dropped.
struct Grant<'a> {
    budget: &'a Budget,
    bytes: u64,
}

impl Budget {
    fn new(total: u64) -> Self {
        Self {
            total,
            left: std::sync::Mutex::new(total),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Waits until `bytes` (at most the whole budget) are free, and takes them.
    fn take(&self, bytes: u64) -> Grant<'_> {
        let bytes = bytes.min(self.total);
        let mut left = self.left.lock().unwrap_or_else(|e| e.into_inner());
        while *left < bytes {
            left = self.freed.wait(left).unwrap_or_else(|e| e.into_inner());
        }
        *left -= bytes;
        Grant {
            budget: self,
            bytes,
        }
    }
}

impl Drop for Grant<'_> {
    fn drop(&mut self) {
        *self.budget.left.lock().unwrap_or_else(|e| e.into_inner()) += self.bytes;
        self.budget.freed.notify_all();
    }
}

/// The Content-Length header as sent (reqwest's `content_length` is the body's size, which is
/// 0 for any answer to HEAD).
fn declared_length(response: &reqwest::blocking::Response) -> Option<u64> {
    response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// One line of a URL manifest.
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestLine {
    pub url: String,
    pub room_type: RoomType,
    pub style: Style,
}

/// Training examples from a URL manifest, downloaded by a pool of threads, pass after pass,
/// through the shuffle buffer. Memory: the buffer, plus a few downloads in flight.
pub struct UrlSource {
    manifest: PathBuf,
    downloader: std::sync::Arc<Downloader>,
    size: u32,
    lines: u64,
    stream: UrlStream,
    buffer: ShuffleBuffer<Example>,
}

/// A job or its result, tagged with the pass over the manifest it belongs to.
type Job = (u64, Result<ManifestLine, Skip>);
type Done = (u64, Result<Example, Skip>);

struct UrlStream {
    results: Receiver<Done>,
    lines: u64,
    /// Per pass still open: results back, usable ones among them. Downloads finish in any
    /// order, so passes overlap; a pass ends when all its lines are back.
    passes: std::collections::BTreeMap<u64, (u64, u64)>,
    skipped: SkipCounts,
}

impl Iterator for UrlStream {
    type Item = Example;

    /// The next usable download; `None` once every line of some pass came back unusable.
    fn next(&mut self) -> Option<Example> {
        loop {
            let (pass, result) = self.results.recv().ok()?;
            let (back, usable) = self.passes.entry(pass).or_insert((0, 0));
            *back += 1;
            *usable += u64::from(result.is_ok());
            let (back, usable) = (*back, *usable);
            let example = match result {
                Ok(example) => Some(example),
                Err(reason) => {
                    self.skipped.add(reason);
                    None
                }
            };
            if back == self.lines {
                self.passes.remove(&pass);
                if usable == 0 {
                    return None;
                }
            }
            if example.is_some() {
                return example;
            }
        }
    }
}

impl UrlSource {
    /// The manifest's images as training's settings ask: IMAGE_SIZE pixels, at most
    /// MAX_IMAGE_SIZE bytes each (over `config`'s cap), a shuffle buffer sized for BATCH_SIZE.
    pub fn for_training(
        manifest: &Path,
        settings: &crate::config::TrainSettings,
        config: DownloadConfig,
    ) -> Result<Self, DatasetError> {
        let config = DownloadConfig {
            max_bytes: settings.max_image_size,
            ..config
        };
        let capacity = crate::shuffle::capacity_for(settings.batch_size);
        Self::open(manifest, settings.image_size, capacity, config)
    }

    pub fn open(
        manifest: &Path,
        size: u32,
        capacity: usize,
        config: DownloadConfig,
    ) -> Result<Self, DatasetError> {
        let io = |source| DatasetError::Io {
            path: manifest.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(manifest).map_err(io)?;
        let mut lines = 0u64;
        let mut reader = BufReader::new(file);
        while let Some(line) = next_line(&mut reader) {
            if !line.map_err(io)?.is_ok_and(|text| text.trim().is_empty()) {
                lines += 1;
            }
        }
        if lines == 0 {
            return Err(DatasetError::Empty(manifest.to_path_buf()));
        }
        let downloader =
            std::sync::Arc::new(Downloader::new(config).map_err(|e| DatasetError::Io {
                path: manifest.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?);
        let parallel = downloader.config().parallel.max(1);
        let (jobs_in, jobs_out) = sync_channel::<Job>(parallel);
        let (results_in, results) = sync_channel(parallel * 2);
        spawn_reader(manifest.to_path_buf(), jobs_in);
        let jobs_out = std::sync::Arc::new(std::sync::Mutex::new(jobs_out));
        for _ in 0..parallel {
            let (jobs, results, downloader) =
                (jobs_out.clone(), results_in.clone(), downloader.clone());
            std::thread::spawn(move || download_worker(&jobs, &results, &downloader, size));
        }
        Ok(Self {
            manifest: manifest.to_path_buf(),
            downloader,
            size,
            lines,
            stream: UrlStream {
                results,
                lines,
                passes: std::collections::BTreeMap::new(),
                skipped: SkipCounts::default(),
            },
            // No larger than a pass: filling 1,000 places from a 41-line manifest fetched every
            // URL ~25 times before the first step.
            buffer: ShuffleBuffer::new(capacity.min(lines as usize)),
        })
    }
}

/// A manifest line longer than this is skipped as a bad line without being held in memory
/// (a URL and two labels take a few hundred bytes; a 100 MB line took 812 MB).
pub const MAX_LINE_BYTES: usize = 8 * 1024;

/// One manifest line: its text, or `Err` when it is longer than [`MAX_LINE_BYTES`] (read to
/// its end and dropped) or not UTF-8. `None` at the end of the file.
fn next_line(reader: &mut impl BufRead) -> Option<std::io::Result<Result<String, Skip>>> {
    let mut line = Vec::new();
    let read = reader
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', &mut line);
    match read {
        Err(e) => return Some(Err(e)),
        Ok(0) => return None,
        Ok(_) => {}
    }
    if line.len() > MAX_LINE_BYTES && line.last() != Some(&b'\n') {
        // Skip the rest of the line a buffer at a time.
        loop {
            let (done, used) = match reader.fill_buf() {
                Err(e) => return Some(Err(e)),
                Ok([]) => (true, 0),
                Ok(buffer) => match buffer.iter().position(|b| *b == b'\n') {
                    Some(at) => (true, at + 1),
                    None => (false, buffer.len()),
                },
            };
            reader.consume(used);
            if done {
                return Some(Ok(Err(Skip::BadLine)));
            }
        }
    }
    Some(Ok(String::from_utf8(line).map_err(|_| Skip::BadLine)))
}

/// Reads the manifest pass after pass into the job queue; stops when nobody listens.
fn spawn_reader(manifest: PathBuf, jobs: SyncSender<Job>) {
    std::thread::spawn(move || {
        for pass in 0.. {
            let Ok(file) = std::fs::File::open(&manifest) else {
                return;
            };
            let mut reader = BufReader::new(file);
            while let Some(line) = next_line(&mut reader) {
                let Ok(line) = line else {
                    return;
                };
                if line.as_ref().is_ok_and(|text| text.trim().is_empty()) {
                    continue;
                }
                let job = line.and_then(|text| {
                    serde_json::from_str::<ManifestLine>(&text).map_err(|_| Skip::BadLine)
                });
                if jobs.send((pass, job)).is_err() {
                    return;
                }
            }
        }
    });
}

fn download_worker(
    jobs: &std::sync::Mutex<Receiver<Job>>,
    results: &SyncSender<Done>,
    downloader: &Downloader,
    size: u32,
) {
    loop {
        let (pass, job) = match jobs.lock() {
            Ok(receiver) => match receiver.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
            Err(_) => return,
        };
        let result = job.and_then(|line| {
            // The budget's share is held until the full-size pixels are resized away.
            let (image, _decoding) = downloader.fetch_decoded(&line.url)?;
            Ok(Example {
                pixels: rgb_to_tensor(&square(&image, size)),
                room: line.room_type,
                style: line.style,
            })
        });
        if results.send((pass, result)).is_err() {
            return;
        }
    }
}

impl ExampleSource for UrlSource {
    fn image_size(&self) -> u32 {
        self.size
    }

    fn next_example(&mut self, rng: &mut ChaCha8Rng) -> Result<Example, SourceError> {
        let drawn = self.buffer.next(rng, &mut self.stream);
        finish_draw(
            drawn,
            rng,
            self.size,
            &self.manifest.display(),
            &self.stream.skipped,
        )
    }

    fn describe(&self) -> String {
        format!(
            "{} images listed in {}",
            self.lines,
            self.manifest.display()
        )
    }

    fn skipped(&self) -> SkipCounts {
        self.stream.skipped.clone()
    }

    fn fetches(&self) -> Option<u64> {
        Some(self.downloader.fetches())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decode_budget_makes_a_share_that_does_not_fit_wait() {
        let budget = std::sync::Arc::new(Budget::new(100));
        let first = budget.take(70);
        let waiter = {
            let budget = budget.clone();
            std::thread::spawn(move || {
                let _second = budget.take(50);
                *budget.left.lock().unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !waiter.is_finished(),
            "50 more bytes do not fit beside 70 of 100"
        );
        drop(first);
        assert_eq!(waiter.join().unwrap(), 50);
        // More than the whole budget: it runs alone rather than never.
        let alone = budget.take(1_000);
        assert_eq!(alone.bytes, 100);
        drop(alone);
        assert_eq!(*budget.left.lock().unwrap(), 100);
    }

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
