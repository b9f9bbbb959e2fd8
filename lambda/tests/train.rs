//! The `train` action under the Lambda emulator against a real S3 API (moto): chunks resume from
//! the checkpoint object, a held lease refuses a second trainer, an expired one is taken over.

mod support;

use designer_core::weights::Weights;
use designer_train::checkpoint::Checkpoint;
use serde_json::{Value, json};
use support::{Emulator, S3};

/// A small PNG of one flat colour.
fn png(colour: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(40, 40, image::Rgb(colour));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
    bytes.into_inner()
}

/// Training images in the bucket and a manifest of their (plain HTTP) URLs.
fn upload_training_set(s3: &S3) -> String {
    let mut manifest = String::new();
    for (i, (room, style, colour)) in [
        ("bedroom", "rustic", [200, 40, 40]),
        ("kitchen", "modern", [40, 40, 200]),
        ("office", "industrial", [90, 90, 90]),
        ("bathroom", "coastal", [40, 180, 200]),
    ]
    .into_iter()
    .enumerate()
    {
        let key = format!("images/{i}.png");
        s3.put(&key, png(colour));
        manifest += &json!({"url": s3.url(&key), "room_type": room, "style": style}).to_string();
        manifest.push('\n');
    }
    s3.put("manifest.jsonl", manifest.into_bytes());
    s3.uri("manifest.jsonl")
}

fn step_of(s3: &S3, key: &str) -> u64 {
    Checkpoint::decode(&s3.get(key).expect("a checkpoint"))
        .unwrap()
        .state
        .step
}

/// The function's environment for a run of `steps` steps of 4 images at 32 px, checkpointed at
/// `checkpoint` in `s3`, over `manifest`.
fn training_env(
    s3: &S3,
    checkpoint: &str,
    manifest: String,
    steps: u64,
) -> Vec<(&'static str, String)> {
    let mut env = s3.env();
    env.extend([
        ("CHECKPOINT_URI", s3.uri(checkpoint)),
        ("TRAINING_MANIFEST", manifest),
        ("EPOCHS", "1".into()),
        ("STEPS_PER_EPOCH", steps.to_string()),
        ("BATCH_SIZE", "4".into()),
        ("IMAGE_SIZE", "32".into()),
    ]);
    env
}

#[test]
fn training_runs_in_resumable_chunks_with_one_trainer_per_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start();
    let manifest = upload_training_set(&s3);
    let checkpoint = "runs/a/checkpoint.dsgnck";
    let env = training_env(&s3, checkpoint, manifest, 5);
    let emulator = Emulator::start();
    let _function = emulator.function(&env, &dir.path().join("function.log"));

    let (status, first) = emulator.invoke(&json!({"action": "train", "max_steps": 2}));
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["step"].as_u64(), first["steps_done"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(first["finished"], false);
    assert!(
        first["loss"].as_f64().is_some_and(f64::is_finite),
        "{first}"
    );
    assert_eq!(first["checkpoint"], s3.uri(checkpoint));
    assert_eq!(step_of(&s3, checkpoint), 2);

    // `info` names the bucket paths to direct callers only, never over the (public) URL.
    let (_, info) = emulator.invoke(&json!({"action": "info"}));
    assert_eq!(info["training"]["checkpoint"], s3.uri(checkpoint), "{info}");
    assert_eq!(info["training"]["configured"], true);
    let (status, _, public) = emulator.http("GET", "/info", "");
    assert_eq!(status, 200, "{public}");
    let public: serde_json::Value = serde_json::from_str(&public).unwrap();
    assert_eq!(public["training"], json!({"configured": true}), "{public}");
    assert!(
        s3.get("runs/a/checkpoint.dsgnck.lock").is_none(),
        "the lease is given back"
    );

    // A second invocation continues where the first stopped.
    let (status, second) = emulator.invoke(&json!({"action": "train", "max_steps": 2}));
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["step"], 4);
    assert_eq!(step_of(&s3, checkpoint), 4);

    // While another invocation holds the lease, training is refused and the checkpoint untouched.
    let before = s3.get(checkpoint).unwrap();
    let lease = |expires_ms: u64| json!({"holder": "other-invocation", "expires_ms": expires_ms});
    let far_future = 4_000_000_000_000u64;
    s3.put(
        "runs/a/checkpoint.dsgnck.lock",
        lease(far_future).to_string().into_bytes(),
    );
    let (status, busy) = emulator.invoke(&json!({"action": "train", "max_steps": 1}));
    assert_eq!(status, 500, "{busy}");
    assert_eq!(busy["errorType"], "CheckpointBusy", "{busy}");
    assert!(
        busy["errorMessage"]
            .as_str()
            .unwrap()
            .contains("other-invocation"),
        "{busy}"
    );
    assert_eq!(s3.get(checkpoint).unwrap(), before);

    // An expired lease (its invocation died) is taken over; the run finishes and exports weights.
    s3.put(
        "runs/a/checkpoint.dsgnck.lock",
        lease(1).to_string().into_bytes(),
    );
    let (status, last) = emulator.invoke(&json!({"action": "train"}));
    assert_eq!(status, 200, "{last}");
    assert_eq!(
        (last["step"].as_u64(), last["finished"].as_bool()),
        (Some(5), Some(true))
    );
    assert_eq!(last["weights"], s3.uri("runs/a/checkpoint.dsgnck.weights"));
    let weights =
        Weights::from_bytes(&s3.get("runs/a/checkpoint.dsgnck.weights").unwrap()).unwrap();
    assert_eq!(weights.header.training_steps, 5);
    assert!(s3.get("runs/a/checkpoint.dsgnck.lock").is_none());

    let (status, bad) = emulator.invoke(&json!({"action": "train", "max_steps": 0}));
    assert_eq!(
        (status, bad["errorType"].as_str()),
        (500, Some("InvalidRequest")),
        "{bad}"
    );
    let (_, bad) = emulator.invoke(&json!({"action": "train", "epochs": 3}));
    assert!(
        bad["errorMessage"]
            .as_str()
            .unwrap()
            .contains("unknown field `epochs`"),
        "{bad}"
    );
}

#[test]
fn a_manifest_without_usable_images_is_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start();
    let lines = [
        json!({"url": s3.url("images/missing.png"), "room_type": "bedroom", "style": "modern"}),
        json!({"url": s3.url("notes.txt"), "room_type": "kitchen", "style": "modern"}),
    ];
    s3.put("notes.txt", b"not an image".to_vec());
    let manifest: String = lines.iter().map(|l| format!("{l}\n")).collect();
    s3.put("manifest.jsonl", manifest.into_bytes());
    let mut env = s3.env();
    env.extend([
        ("CHECKPOINT_URI", s3.uri("runs/b/checkpoint.dsgnck")),
        ("TRAINING_MANIFEST", s3.uri("manifest.jsonl")),
        ("BATCH_SIZE", "2".into()),
        ("IMAGE_SIZE", "32".into()),
    ]);
    let emulator = Emulator::start();
    let _function = emulator.function(&env, &dir.path().join("function.log"));
    let (status, error) = emulator.invoke(&json!({"action": "train", "max_steps": 1}));
    assert_eq!(status, 500, "{error}");
    assert_eq!(error["errorType"], "BadTrainingData", "{error}");
    let message = error["errorMessage"].as_str().unwrap();
    assert!(message.contains("no usable image"), "{message}");
    assert!(
        s3.get("runs/b/checkpoint.dsgnck").is_none(),
        "nothing was saved"
    );
    assert!(
        s3.get("runs/b/checkpoint.dsgnck.lock").is_none(),
        "the lease is given back"
    );
}

#[test]
fn overlapping_invocations_never_lose_or_corrupt_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3::start();
    let manifest = upload_training_set(&s3);
    let checkpoint = "runs/c/checkpoint.dsgnck";
    let env = training_env(&s3, checkpoint, manifest, 100);
    // Two containers of the function, as Lambda runs for two asynchronous invocations at once.
    let emulator = Emulator::start();
    let _a = emulator.function(&env, &dir.path().join("a.log"));
    let _b = emulator.function(&env, &dir.path().join("b.log"));
    let results: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let calls: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| emulator.invoke(&json!({"action": "train", "max_steps": 6}))))
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    let mut trained = 0;
    for (status, answer) in &results {
        match status {
            200 => trained += answer["steps_done"].as_u64().unwrap(),
            _ => assert_eq!(answer["errorType"], "CheckpointBusy", "{answer}"),
        }
    }
    let busy = results.iter().filter(|(status, _)| *status != 200).count();
    assert_eq!(
        busy, 1,
        "the two invocations overlapped, so one must be refused: {results:?}"
    );
    assert_eq!(step_of(&s3, checkpoint), trained, "{results:?}");
}
