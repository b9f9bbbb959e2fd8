//! The release function under a real Lambda runtime API emulator (cargo lambda watch), invoked
//! the ways callers invoke it: directly and through its function URL.

mod support;

use serde_json::{Value, json};
use support::{Emulator, png_size};

/// A `width` x `height` photo of a room as a base64 PNG: a wall and a dark window.
fn photo(width: u32, height: u32) -> String {
    let room = image::RgbImage::from_fn(width, height, |x, y| {
        let window = (width / 3..width / 2).contains(&x) && (height / 4..height / 2).contains(&y);
        image::Rgb(if window {
            [40, 40, 50]
        } else {
            [200, 180, 160]
        })
    });
    designer_core::image::to_base64(&designer_core::image::encode_png(&room))
}

/// What each bad photo is refused with, on every target (the CLI's tests have the same).
fn bad_photos() -> Vec<(Value, &'static str)> {
    let room = designer_core::image::from_base64(&photo(48, 40)).unwrap();
    let b64 = designer_core::image::to_base64;
    vec![
        (json!("%%%"), "invalid photo: not valid base64"),
        (
            json!(b64(b"GIF89a not a photo")),
            "invalid photo: not a PNG or JPEG image",
        ),
        (
            json!(b64(&room[..room.len() / 2])),
            "invalid photo: corrupt PNG",
        ),
        (
            json!(photo(31, 40)),
            "invalid photo: must be at least 32 x 32 pixels, got 31 x 40",
        ),
        (
            json!(photo(5000, 32)),
            "invalid photo: too large to decode: at most 4096 x 4096",
        ),
        // Past the 4 MB cap once decoded, under the 6 MB payload limit as sent.
        (
            json!("A".repeat(5_700_000)),
            "invalid photo: must be at most 4194304 bytes",
        ),
    ]
}

fn generate_request(extra: Value) -> Value {
    let mut request = json!({"room_type": "bedroom", "style": "scandinavian", "variations": 2,
                             "seed": 7, "steps": 4});
    for (k, v) in extra.as_object().unwrap() {
        request[k] = v.clone();
    }
    request
}

#[test]
fn direct_invocations_generate_describe_and_refuse_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("function.log");
    let emulator = Emulator::start();
    let _function = emulator.function(&[], &log);

    let (status, response) = emulator.invoke(&generate_request(json!({})));
    assert_eq!(status, 200, "{response}");
    let designs = response["designs"].as_array().unwrap();
    assert_eq!(designs.len(), 2);
    assert_eq!(
        (designs[0]["seed"].as_u64(), designs[1]["seed"].as_u64()),
        (Some(7), Some(8))
    );
    // The default size, 256 px, drawn by generator v2.
    for design in designs {
        assert_eq!(png_size(design), (256, 256));
    }
    assert_ne!(designs[0]["png_base64"], designs[1]["png_base64"]);
    assert_eq!(response["backend"], "cpu");
    assert!(response["model"].as_str().unwrap().contains('@'));

    // The same request again comes from the cache: the same designs.
    let (_, again) = emulator.invoke(&generate_request(json!({"action": "generate"})));
    assert_eq!(again["designs"], response["designs"]);

    let (status, info) = emulator.invoke(&json!({"action": "info"}));
    assert_eq!(status, 200);
    assert_eq!(info["model"], response["model"]);
    assert_eq!(info["room_types"].as_array().unwrap().len(), 9);
    assert_eq!(info["styles"].as_array().unwrap().len(), 16);
    assert_eq!(info["limits"]["variations"], json!([1, 64]));
    assert_eq!(info["cache"]["hits"], 1);
    assert_eq!(info["cache"]["entries"], 1);
    assert!(info["init_ms"].as_u64().is_some());

    // Each request goes to the model trained at the largest size not above its own: 256 px
    // (the default) to generator v2, 128 px to the 128 px U-Net, smaller ones to the small one.
    let models = info["models"].as_array().unwrap();
    assert_eq!(models.len(), 3, "{info}");
    assert_eq!(models[0]["trained_size"], 64);
    assert_eq!(models[1]["trained_size"], 128);
    assert_eq!(models[2]["trained_size"], 256);
    assert_eq!(models[2]["model"], response["model"]);
    let (status, large) = emulator.invoke(&generate_request(
        json!({"size": 128, "variations": 1, "steps": 2}),
    ));
    assert_eq!(status, 200, "{large}");
    assert_eq!(large["model"], models[1]["model"]);
    assert_eq!(png_size(&large["designs"][0]), (128, 128));
    // Past the largest trained size, the default model draws in two stages (its 256 px design,
    // redrawn at 512): the Lambda's heavier path.
    let (status, finest) = emulator.invoke(&generate_request(
        json!({"size": 512, "variations": 1, "steps": 2}),
    ));
    assert_eq!(status, 200, "{finest}");
    assert_eq!(finest["model"], models[2]["model"]);
    assert_eq!(png_size(&finest["designs"][0]), (512, 512));

    // A photo: its layout kept by the default model, and the response says how it was used.
    let (status, restyled) = emulator.invoke(&generate_request(
        json!({"photo": photo(48, 40), "variations": 1}),
    ));
    assert_eq!(status, 200, "{restyled}");
    assert_eq!(
        restyled["photo"],
        json!({"keep": "layout", "width": 48, "height": 40, "fit": "centre-cropped"})
    );
    assert_ne!(restyled["designs"][0], response["designs"][0]);

    // Function errors: the emulator answers 500 with the function's error type and message.
    let mut refused = vec![
        (
            generate_request(json!({"style": "gothic"})),
            "InvalidRequest",
            "invalid style: unknown style 'gothic'; allowed: modern",
        ),
        (
            generate_request(json!({"room_type": "home_gym", "size": 64})),
            "InvalidRequest",
            "was not trained on the room type 'home_gym'; it knows: living_room",
        ),
        (
            generate_request(json!({"variations": 65})),
            "InvalidRequest",
            "invalid variations: must be between 1 and 64",
        ),
        (
            generate_request(json!({"colour": "red"})),
            "InvalidRequest",
            "unknown field `colour`",
        ),
        (
            generate_request(json!({"variations": 24, "size": 256})),
            "ResponseTooLarge",
            "ask for at most 23 at this size",
        ),
        (
            generate_request(json!({"variations": 6, "size": 512})),
            "ResponseTooLarge",
            "ask for at most 5 at this size",
        ),
        (
            json!({"action": "paint"}),
            "UnknownAction",
            "unknown action 'paint'; allowed: generate, train, info",
        ),
        (
            json!({"action": "train"}),
            "NotConfigured",
            "train needs CHECKPOINT_URI",
        ),
        (
            generate_request(json!({"photo": photo(48, 40), "keep": "layout", "size": 64})),
            "InvalidRequest",
            "invalid keep: the model designer-scenes-64@",
        ),
    ];
    for (bad, message) in bad_photos() {
        refused.push((
            generate_request(json!({ "photo": bad })),
            "InvalidRequest",
            message,
        ));
    }
    for (payload, error_type, message) in refused {
        let (status, error) = emulator.invoke(&payload);
        assert_eq!(status, 500, "{payload}: {error}");
        assert_eq!(error["errorType"], error_type, "{payload}: {error}");
        let got = error["errorMessage"].as_str().unwrap();
        assert!(
            got.contains(message),
            "{payload}: '{got}' lacks '{message}'"
        );
    }

    // Payloads the runtime would have parsed its own way: one parser, the CLI's rules.
    let raw_refusals = [
        (
            r#"{"room_type":"castle","room_type":"bedroom","style":"modern"}"#,
            "duplicate field `room_type`",
        ),
        ("room_type=bedroom", "the payload is not valid JSON"),
        (
            r#"{"room_type":"bedroom","style":"modern"} {"action":"train"}"#,
            "the payload is not valid JSON: trailing characters",
        ),
    ];
    for (payload, message) in raw_refusals {
        let (status, error) = emulator.invoke_raw(payload);
        assert_eq!(status, 500, "{payload}: {error}");
        assert_eq!(error["errorType"], "InvalidRequest", "{payload}: {error}");
        let got = error["errorMessage"].as_str().unwrap();
        assert!(
            got.contains(message),
            "{payload}: '{got}' lacks '{message}'"
        );
    }
    let with_bom = format!("\u{feff}{}", generate_request(json!({"variations": 1})));
    let (status, bom) = emulator.invoke_raw(&with_bom);
    assert_eq!(status, 200, "{bom}");
    assert_eq!(bom["designs"][0], response["designs"][0]);

    // Logs are JSON lines (CloudWatch's format), with init's timing.
    let logs = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "initialised" && l["init_ms"].is_u64()),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["message"] == "refused" && l["kind"] == "too_large"),
        "{logs}"
    );
}

#[test]
fn function_url_requests_get_http_statuses_and_json_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start();
    let _function = emulator.function(&[], &dir.path().join("function.log"));

    let body = generate_request(json!({"variations": 1, "size": 32})).to_string();
    let (status, cache, text) = emulator.http("POST", "/", &body);
    assert_eq!((status, cache.as_deref()), (200, Some("miss")), "{text}");
    let response: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(png_size(&response["designs"][0]), (32, 32));
    let (status, cache, again) = emulator.http("POST", "/generate", &body);
    assert_eq!((status, cache.as_deref()), (200, Some("hit")));
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["designs"], response["designs"]);

    let (status, _, info) = emulator.http("GET", "/info", "");
    assert_eq!(status, 200, "{info}");
    // `info` describes the default size's model; this 32 px design is the small model's.
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["models"][0]["model"], response["model"], "{info}");
    assert_ne!(info["model"], response["model"]);

    let refused = [
        (
            "/",
            "{\"room_type\": \"bedroom\",",
            400,
            "invalid",
            "the body is not valid JSON",
        ),
        (
            "/",
            r#"{"room_type":"bedroom","style":"gothic"}"#,
            400,
            "invalid",
            "allowed: modern, minimalist",
        ),
        (
            "/",
            r#"{"room_type":"bedroom","style":"modern","variations":100}"#,
            400,
            "invalid",
            "between 1 and 64",
        ),
        (
            "/",
            r#"{"room_type":"bedroom","style":"modern","variations":30,"size":256}"#,
            413,
            "too_large",
            "6291456-byte response limit",
        ),
        (
            "/paint",
            "{}",
            404,
            "unknown_action",
            "unknown action 'paint'",
        ),
        (
            "/train",
            "{}",
            403,
            "forbidden",
            "only available through a direct",
        ),
    ];
    // The body names the field apart from the message.
    let photos: Vec<(String, &str)> = bad_photos()
        .into_iter()
        .map(|(bad, message)| {
            let body = generate_request(json!({ "photo": bad })).to_string();
            (body, message.trim_start_matches("invalid photo: "))
        })
        .collect();
    let refused = refused.into_iter().chain(
        photos
            .iter()
            .map(|(body, message)| ("/", body.as_str(), 400, "invalid", *message)),
    );
    for (path, body, want_status, error, message) in refused {
        let (status, _, text) = emulator.http("POST", path, body);
        assert_eq!(status, want_status, "{path} {body}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(answer["error"], error, "{text}");
        assert!(
            answer["message"].as_str().unwrap().contains(message),
            "{text}"
        );
    }
    // Only the documented methods: DELETE / does not generate, GET /info answers.
    let (status, _, text) =
        emulator.http("DELETE", "/", r#"{"room_type":"bedroom","style":"modern"}"#);
    assert_eq!(status, 405, "{text}");
    assert!(text.contains("use POST"), "{text}");
    let (status, _, text) = emulator.http("GET", "/info", "");
    assert_eq!(status, 200, "{text}");
    // A repeated key is refused, not resolved to its last value.
    let (status, _, text) = emulator.http(
        "POST",
        "/",
        r#"{"room_type":"castle","room_type":"bedroom","style":"modern"}"#,
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("duplicate field `room_type`"), "{text}");
    let (_, _, text) = emulator.http("POST", "/", r#"{"room_type":"bedroom","style":"gothic"}"#);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["field"],
        "style"
    );
}
