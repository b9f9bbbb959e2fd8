//! Downloads against a real HTTP server on 127.0.0.1, started by the test: a raw socket server,
//! so it can misbehave on purpose (lie about lengths, stall, fail, redirect inward).

use designer_train::dataset::{ExampleSource, Skip};
use designer_train::download::{DownloadConfig, Downloader, UrlSource};
use rand::SeedableRng;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MAX: u64 = 64 * 1024;

fn png(side: u32) -> Vec<u8> {
    designer_core::image::encode_png(&image::RgbImage::from_fn(side, side, |x, y| {
        image::Rgb([x as u8 * 7, y as u8 * 5, 100])
    }))
}

/// A PNG whose header claims 60,000 x 60,000 pixels: decoding it would take 10 GB.
fn bomb() -> Vec<u8> {
    let mut bytes = png(8);
    // IHDR's width and height sit at bytes 16..24; its CRC at 29..33 is not checked by the
    // decoder before the size limit is.
    bytes[16..20].copy_from_slice(&60_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&60_000u32.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

struct Server {
    port: u16,
    /// Requests per "METHOD path".
    hits: Arc<Mutex<HashMap<String, u32>>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, port, &counter);
                });
            }
        });
        Server { port, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn hits(&self, key: &str) -> u32 {
        self.hits.lock().unwrap().get(key).copied().unwrap_or(0)
    }
}

fn serve(
    mut stream: TcpStream,
    port: u16,
    hits: &Mutex<HashMap<String, u32>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        if header.trim().is_empty() {
            break;
        }
    }
    let mut parts = request.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let count = {
        let mut hits = hits.lock().unwrap();
        let n = hits.entry(format!("{method} {path}")).or_insert(0);
        *n += 1;
        *n
    };
    let head = method == "HEAD";
    let mut reply =
        |status: &str, headers: &[(&str, String)], body: &[u8]| -> std::io::Result<()> {
            let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            stream.write_all(out.as_bytes())?;
            if !head {
                stream.write_all(body)?;
            }
            stream.flush()
        };
    let sized = |body: &[u8]| vec![("Content-Length", body.len().to_string())];
    // Routes ignore the query, so one file can stand for many URLs.
    match path.split('?').next().unwrap_or_default() {
        "/ok.png" => {
            let body = png(16);
            reply("200 OK", &sized(&body), &body)
        }
        // Says it is huge: HEAD alone must settle it.
        "/huge.png" => reply(
            "200 OK",
            &[("Content-Length", (MAX * 100).to_string())],
            b"",
        ),
        // Says 100 bytes on HEAD, then streams far more with no length at all.
        "/lying.png" => {
            if head {
                reply("200 OK", &[("Content-Length", "100".into())], b"")
            } else {
                let mut body = png(16);
                body.resize((MAX * 4) as usize, 0);
                reply("200 OK", &[], &body)
            }
        }
        // A tarpit: says 1000 bytes, then sends one every 100 ms.
        "/drip.png" => {
            if head {
                return reply("200 OK", &[("Content-Length", "1000".into())], b"");
            }
            stream.write_all(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n",
            )?;
            for _ in 0..1000 {
                stream.write_all(b"x")?;
                stream.flush()?;
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        }
        "/slow.png" => {
            std::thread::sleep(Duration::from_millis(4000));
            let body = png(16);
            reply("200 OK", &sized(&body), &body)
        }
        // Fails its first GET, then works.
        "/flaky.png" => {
            if !head && count == 1 {
                reply("500 Internal Server Error", &sized(b"oops"), b"oops")
            } else {
                let body = png(16);
                reply("200 OK", &sized(&body), &body)
            }
        }
        "/always-500.png" => reply("503 Service Unavailable", &sized(b"down"), b"down"),
        "/missing.png" => reply("404 Not Found", &sized(b"no"), b"no"),
        "/text.png" => {
            let body = b"<html>this is not an image</html>".to_vec();
            reply("200 OK", &sized(&body), &body)
        }
        "/bomb.png" => {
            let body = bomb();
            reply("200 OK", &sized(&body), &body)
        }
        "/to-private" => reply(
            "302 Found",
            &[
                ("Location", "http://10.255.255.1/x.png".into()),
                ("Content-Length", "0".into()),
            ],
            b"",
        ),
        "/to-loopback" => reply(
            "302 Found",
            &[
                ("Location", format!("http://127.0.0.1:{port}/ok.png")),
                ("Content-Length", "0".into()),
            ],
            b"",
        ),
        _ => reply("404 Not Found", &sized(b""), b""),
    }
}

fn config() -> DownloadConfig {
    DownloadConfig {
        max_bytes: MAX,
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_millis(600),
        retries: 1,
        backoff: Duration::from_millis(20),
        parallel: 4,
        allow_private_redirects: false,
    }
}

#[test]
fn a_good_image_downloads_and_decodes() {
    let server = Server::start();
    let image = Downloader::new(config())
        .unwrap()
        .fetch_image(&server.url("/ok.png"))
        .unwrap();
    assert_eq!(image.dimensions(), (16, 16));
}

#[test]
fn oversized_files_are_refused_by_header_and_by_what_arrives() {
    let server = Server::start();
    let downloader = Downloader::new(config()).unwrap();
    assert_eq!(
        downloader.fetch(&server.url("/huge.png")),
        Err(Skip::TooLarge)
    );
    assert_eq!(server.hits("GET /huge.png"), 0, "HEAD settled it");
    assert_eq!(
        downloader.fetch(&server.url("/lying.png")),
        Err(Skip::TooLarge)
    );
    assert_eq!(server.hits("GET /lying.png"), 1);
}

#[test]
fn a_slow_server_times_out_after_its_retries() {
    let server = Server::start();
    let started = std::time::Instant::now();
    assert_eq!(
        Downloader::new(config())
            .unwrap()
            .fetch(&server.url("/slow.png")),
        Err(Skip::Timeout)
    );
    // One try and one retry of ~0.6 s each, not the server's 4 s.
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits("HEAD /slow.png"), 2);
}

#[test]
fn a_body_that_drips_in_times_out_and_is_retried() {
    let server = Server::start();
    let started = std::time::Instant::now();
    assert_eq!(
        Downloader::new(config())
            .unwrap()
            .fetch(&server.url("/drip.png")),
        Err(Skip::Timeout)
    );
    // Two attempts of ~0.6 s each: the deadline covers the body, not only the headers.
    assert!(
        started.elapsed() < Duration::from_millis(3000),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.hits("GET /drip.png"), 2, "retried as a timeout");
}

#[test]
fn a_server_error_is_retried_until_it_works_or_retries_run_out() {
    let server = Server::start();
    let downloader = Downloader::new(config()).unwrap();
    let image = downloader.fetch_image(&server.url("/flaky.png")).unwrap();
    assert_eq!(image.dimensions(), (16, 16));
    assert_eq!(server.hits("GET /flaky.png"), 2, "a 500, then the retry");
    assert_eq!(
        downloader.fetch(&server.url("/always-500.png")),
        Err(Skip::HttpStatus)
    );
    assert_eq!(
        server.hits("HEAD /always-500.png"),
        2,
        "one try and one retry"
    );
    assert_eq!(
        downloader.fetch(&server.url("/missing.png")),
        Err(Skip::HttpStatus)
    );
    assert_eq!(server.hits("HEAD /missing.png"), 1, "a 404 is not retried");
}

#[test]
fn non_images_and_decompression_bombs_are_refused() {
    let server = Server::start();
    let downloader = Downloader::new(config()).unwrap();
    assert_eq!(
        downloader.fetch_image(&server.url("/text.png")),
        Err(Skip::NotImage)
    );
    // The bomb is a few hundred bytes: it passes the size cap and fails the decode limits.
    assert!(downloader.fetch(&server.url("/bomb.png")).unwrap().len() < 1000);
    assert_eq!(
        downloader.fetch_image(&server.url("/bomb.png")),
        Err(Skip::Decode)
    );
}

#[test]
fn redirects_to_private_addresses_are_refused_unless_allowed() {
    let server = Server::start();
    let downloader = Downloader::new(config()).unwrap();
    assert_eq!(
        downloader.fetch(&server.url("/to-private")),
        Err(Skip::Redirect)
    );
    assert_eq!(
        downloader.fetch(&server.url("/to-loopback")),
        Err(Skip::Redirect)
    );
    assert_eq!(server.hits("GET /ok.png") + server.hits("HEAD /ok.png"), 0);
    let trusting = Downloader::new(DownloadConfig {
        allow_private_redirects: true,
        ..config()
    })
    .unwrap();
    assert_eq!(
        trusting
            .fetch_image(&server.url("/to-loopback"))
            .unwrap()
            .dimensions(),
        (16, 16)
    );
}

#[test]
fn a_manifest_trains_on_the_good_items_and_counts_the_bad_ones() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.jsonl");
    let line = |path: &str| {
        format!(
            r#"{{"url": "{}", "room_type": "office", "style": "rustic"}}"#,
            server.url(path)
        )
    };
    let lines = [
        line("/ok.png"),
        line("/flaky.png"),
        line("/huge.png"),
        line("/text.png"),
        line("/bomb.png"),
        line("/missing.png"),
        line("/to-private"),
        "{not json".to_string(),
    ];
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    let mut source = UrlSource::open(&manifest, 8, 16, config()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let batch = source.next_batch(24, &mut rng).unwrap();
    assert_eq!(batch.len(), 24);
    assert!(
        batch
            .iter()
            .all(|e| e.pixels.len() == 3 * 8 * 8 && e.room == designer_core::RoomType::Office)
    );
    let skipped = source.skipped();
    for reason in [
        Skip::TooLarge,
        Skip::NotImage,
        Skip::Decode,
        Skip::HttpStatus,
        Skip::Redirect,
        Skip::BadLine,
    ] {
        assert!(
            skipped.get(reason) >= 1,
            "{reason:?} not counted: {skipped}"
        );
    }

    // Nothing usable at all: an error that says so, with the counts.
    std::fs::write(
        &manifest,
        [line("/text.png"), line("/missing.png")].join("\n"),
    )
    .unwrap();
    let mut source = UrlSource::open(&manifest, 8, 16, config()).unwrap();
    let err = source.next_batch(4, &mut rng).err().unwrap().to_string();
    assert!(
        err.contains("no usable image")
            && err.contains("not_an_image")
            && err.contains("http_status"),
        "{err}"
    );
}

#[test]
fn a_small_manifest_is_fetched_about_once_per_pass_and_a_huge_line_is_skipped() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.jsonl");
    let mut lines: Vec<String> = (0..7)
        .map(|i| {
            format!(
                r#"{{"url": "{}", "room_type": "office", "style": "rustic"}}"#,
                server.url(&format!("/ok.png?i={i}"))
            )
        })
        .collect();
    // 2 MB on one line: skipped as a bad line, never held whole.
    lines.insert(3, format!(r#"{{"url": "{}"}}"#, "x".repeat(2 << 20)));
    std::fs::write(&manifest, lines.join("\n")).unwrap();
    // A shuffle buffer of 1,000 asked for: it must not be filled by re-reading 7 URLs.
    let mut source = UrlSource::open(&manifest, 8, 1000, config()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    for _ in 0..2 {
        assert_eq!(source.next_batch(2, &mut rng).unwrap().len(), 2);
    }
    assert!(
        source.skipped().get(Skip::BadLine) >= 1,
        "{}",
        source.skipped()
    );
    let served: u32 = (0..7)
        .map(|i| server.hits(&format!("GET /ok.png?i={i}")))
        .sum();
    let counted = source.fetches().expect("a URL source counts its downloads");
    // A worker may have sent a GET the server has not counted yet when this reads.
    assert!(
        counted >= u64::from(served) && counted <= u64::from(served) + 4,
        "{counted} vs {served}"
    );
    for i in 0..7 {
        let fetched = server.hits(&format!("GET /ok.png?i={i}"));
        // One pass fills the buffer; the downloads running ahead take a few more.
        assert!(
            fetched <= 6,
            "URL {i} fetched {fetched} times for 4 examples"
        );
    }
}
