//! The `designer` binary as a person runs it.

use std::process::Command;

#[path = "../../train/tests/support/mod.rs"]
mod support;

fn designer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_designer"))
}

/// Runs the command and checks that it succeeded, showing its stderr if not.
fn succeed(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn generate_writes_identical_pngs_twice_and_prints_json() {
    let out = tempfile::tempdir().unwrap();
    let run = |dir: &std::path::Path| {
        succeed(
            designer()
                .args([
                    "generate",
                    "--room-type",
                    "office",
                    "--style",
                    "coastal",
                    "--variations",
                    "2",
                    "--seed",
                    "9",
                ])
                .args(["--steps", "3", "--json", "--out"])
                .arg(dir),
        )
    };
    let first = out.path().join("a");
    let second = out.path().join("b");
    let output = run(&first);
    run(&second);
    let response: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(response["designs"].as_array().unwrap().len(), 2);
    assert_eq!(response["backend"], "cpu");
    // The default size is 256 px, drawn by generator v2.
    assert_eq!(response["designs"][0]["width"], 256);
    let model = response["model"].as_str().unwrap();
    assert!(model.starts_with("designer-v2-"), "{model}");
    for seed in [9, 10] {
        let name = format!("office-coastal-{seed}.png");
        let a = std::fs::read(first.join(&name)).unwrap();
        assert_eq!(
            a,
            std::fs::read(second.join(&name)).unwrap(),
            "{name} differs between runs"
        );
        assert_eq!(&a[1..4], b"PNG");
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("office-coastal-9.png"),
        "tells where the designs are: {stderr}"
    );
}

/// `designer generate ARGS --tensors FILE` into a fresh folder (the designs' PNGs land there
/// too): the folder and the file's bytes.
fn generate_tensors(args: &[&str]) -> (tempfile::TempDir, Vec<u8>) {
    let out = tempfile::tempdir().unwrap();
    let tensors = out.path().join("sampled.safetensors");
    succeed(
        designer()
            .arg("generate")
            .args(args)
            .arg("--out")
            .arg(out.path())
            .arg("--tensors")
            .arg(&tensors),
    );
    let bytes = std::fs::read(&tensors).unwrap();
    (out, bytes)
}

/// The default network works on latents: its starting tensor is shaped as they are, and the
/// images as images (a reference implementation reads both shapes from the file).
#[test]
fn sampled_tensors_of_a_latent_network_keep_each_shape() {
    let (_out, bytes) = generate_tensors(&["--variations", "1", "--steps", "1"]);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let start = file.tensor("start").unwrap();
    assert_eq!(start.shape().len(), 4);
    assert_eq!(start.shape()[0], 1);
    assert!(
        start.shape()[2] < 256,
        "latents, smaller than the image: {:?}",
        start.shape()
    );
    assert_eq!(file.tensor("images").unwrap().shape(), [1, 3, 256, 256]);
}

#[test]
fn sampled_tensors_are_the_seeded_noise_and_the_designs_before_rounding() {
    let (out, bytes) = generate_tensors(&[
        "--variations",
        "2",
        "--seed",
        "5",
        "--steps",
        "3",
        "--size",
        "32",
    ]);
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let floats = |name: &str| -> Vec<f32> {
        let view = file.tensor(name).unwrap();
        assert_eq!(view.shape(), [2, 3, 32, 32], "{name}");
        view.data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect()
    };
    let start = floats("start");
    let images = floats("images");
    for (i, seed) in [5u64, 6].into_iter().enumerate() {
        assert_eq!(
            start[i * 3 * 32 * 32..(i + 1) * 3 * 32 * 32],
            designer_core::sampler::seeded_noise(seed, [3, 32, 32]),
            "variation {i} starts from its seed's noise"
        );
        let png =
            std::fs::read(out.path().join(format!("bedroom-scandinavian-{seed}.png"))).unwrap();
        let written = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(
            written,
            designer_core::image::tensor_to_rgb(&images, i, 32, 32),
            "variation {i}'s PNG is its sampled tensor rounded"
        );
    }
}

#[test]
fn bad_input_is_a_clear_error_not_a_panic() {
    let cases: [(&[&str], &str); 19] = [
        (
            &["generate", "--style", "gothic"],
            "unknown style 'gothic'; allowed: modern",
        ),
        // Labels newer than the small models are refused by the model, in words (generator
        // v2, the default size's, knows every one).
        (
            &["generate", "--style", "maximalist", "--size", "64"],
            "was not trained on the style 'maximalist'; it knows: modern",
        ),
        (
            &["generate", "--room-type", "laundry_room", "--size", "128"],
            "designer-scenes-128@",
        ),
        (
            &["generate", "--repeat", "0"],
            "invalid value '0' for '--repeat <REPEAT>'",
        ),
        (
            &["generate", "--threads", "0"],
            "invalid value '0' for '--threads <THREADS>'",
        ),
        (
            &["generate", "--variations", "99"],
            "invalid variations: must be between 1 and 64",
        ),
        (
            &["generate", "--weights", "/nonexistent/w.weights"],
            "loading /nonexistent/w.weights",
        ),
        (
            &["train", "--ema", "1", "--data", "/nonexistent"],
            "'1' is not a decay in [0, 1)",
        ),
        // Training flags get their variables' checks, before any data is opened.
        (
            &["train", "--size", "50", "--data", "/x"],
            "--size must be a multiple of 16",
        ),
        (
            &["train", "--size", "100000", "--data", "/x"],
            "--size must be a multiple of 16",
        ),
        (
            &["train", "--batch-size", "0", "--data", "/x"],
            "--batch-size must be a positive",
        ),
        (
            &["train", "--epochs", "0", "--data", "/x"],
            "--epochs must be a positive integer",
        ),
        (
            &["train", "--steps-per-epoch", "0", "--data", "/x"],
            "--steps-per-epoch must be",
        ),
        (
            &["train", "--base-channels", "7", "--data", "/x"],
            "--base-channels: groups must",
        ),
        (
            &["train", "--base-channels", "0", "--data", "/x"],
            "base_channels must be from 1",
        ),
        // Distillation learns from a teacher, which clap asks for by name.
        (
            &["train", "--objective", "steps", "--data", "/x"],
            "--teacher <TEACHER>",
        ),
        (
            &["train", "--objective", "decoder", "--adversarial", "0", "--data", "/x"],
            "'0' is not a weight above 0 and at most 10",
        ),
        (
            &["generate", "--sampler", "consistency"],
            "possible values: euler, heun, teacher",
        ),
        // An endless file is refused after the cap, not read into memory.
        (
            &["generate", "--photo", "/dev/zero"],
            "--photo /dev/zero: larger than 4194304",
        ),
    ];
    for (args, needle) in cases {
        let output = designer()
            .args(args)
            .arg("--out")
            .arg(std::env::temp_dir())
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        // Ours are one line, however RUST_BACKTRACE is set (clap adds a hint line of its own).
        if !stderr.contains("For more information") {
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        }
    }
}

#[test]
fn a_request_with_anything_after_it_is_refused() {
    for trailing in [" {\"room_type\":\"office\",\"style\":\"modern\"}", " junk"] {
        let mut child = designer()
            .args(["generate", "--request", "-", "--out"])
            .arg(std::env::temp_dir())
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        let request = format!("{{\"room_type\":\"bedroom\",\"style\":\"modern\"}}{trailing}");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{request} was accepted");
        assert!(stderr.contains("content after the request"), "{stderr}");
    }
}

#[test]
fn a_json_request_on_stdin_is_validated_with_the_field_named() {
    use std::io::Write;
    let mut child = designer()
        .args(["generate", "--request", "-", "--out"])
        .arg(std::env::temp_dir())
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"room_type":"bedroom","style":"modern","colour":"red"}"#)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid colour: unknown field `colour`"),
        "{stderr}"
    );
}

#[test]
fn info_reports_the_default_model_and_the_vocabulary() {
    let output = designer().arg("info").output().unwrap();
    assert!(output.status.success());
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Every label the build knows, and the ones the default model, generator v2 at 256 px,
    // was trained on: all of them.
    assert_eq!(info["room_types"].as_array().unwrap().len(), 9);
    assert_eq!(info["styles"].as_array().unwrap().len(), 16);
    let trained = &info["weights"]["model"]["vocabulary"];
    assert_eq!(trained["room_types"].as_array().unwrap().len(), 9);
    assert_eq!(trained["styles"].as_array().unwrap().len(), 16);
    assert_eq!(info["weights"]["image_size"], 256);
    assert_eq!(
        info["weights"]["model"]["architecture"]["layout"], true,
        "follows a photo's layout: {info}"
    );
    assert_eq!(
        info["distilled_steps"][0], 8,
        "a step-distilled student: {info}"
    );
    assert!(info["model"].as_str().unwrap().contains('@'));
    // The small model, from its file, knows the first vocabulary.
    let output = succeed(designer().arg("info").arg("--weights").arg(small_weights()));
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let trained = &info["weights"]["model"]["vocabulary"];
    assert_eq!(trained["room_types"].as_array().unwrap().len(), 6);
    assert_eq!(trained["styles"].as_array().unwrap().len(), 8);
}

#[test]
fn exported_int8_weights_are_a_quarter_the_size_and_generate() {
    let out = tempfile::tempdir().unwrap();
    let export = |precision: &str| {
        let file = out.path().join(format!("{precision}.weights"));
        succeed(
            designer()
                .args(["export", "--weights"])
                .arg(small_weights())
                .args(["--precision", precision, "--out"])
                .arg(&file),
        );
        file
    };
    let (f32_file, int8_file) = (export("f32"), export("int8"));
    let size = |f: &std::path::Path| std::fs::metadata(f).unwrap().len();
    assert!(
        size(&int8_file) * 10 < size(&f32_file) * 3,
        "{} vs {} bytes",
        size(&int8_file),
        size(&f32_file)
    );
    let generate = |weights: &std::path::Path| {
        let dir = out.path().join(weights.file_stem().unwrap());
        succeed(
            designer()
                .args([
                    "generate",
                    "--variations",
                    "1",
                    "--steps",
                    "3",
                    "--size",
                    "64",
                ])
                .arg("--weights")
                .arg(weights)
                .arg("--out")
                .arg(&dir),
        );
        std::fs::read(dir.join("bedroom-scandinavian-42.png")).unwrap()
    };
    let (full, int8) = (generate(&f32_file), generate(&int8_file));
    assert_eq!(&int8[1..4], b"PNG");
    assert_ne!(full, int8, "the int8 file rounds");

    // A damaged int8 file is refused with the reason, not loaded.
    let mut bytes = std::fs::read(&int8_file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x55;
    std::fs::write(&int8_file, bytes).unwrap();
    let output = designer()
        .args([
            "generate",
            "--variations",
            "1",
            "--steps",
            "1",
            "--size",
            "64",
        ])
        .arg("--weights")
        .arg(&int8_file)
        .arg("--out")
        .arg(out.path().join("damaged"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("damaged"), "{stderr}");
}

fn train_command(
    data: &std::path::Path,
    checkpoints: &std::path::Path,
    out: &std::path::Path,
) -> Command {
    let mut command = designer();
    command
        .args(["train", "--data"])
        .arg(data)
        .args([
            "--size",
            "16",
            "--base-channels",
            "8",
            "--seed",
            "4",
            "--resume",
            "--checkpoint-dir",
        ])
        .arg(checkpoints)
        .arg("--out")
        .arg(out)
        .env("EPOCHS", "6")
        .env("STEPS_PER_EPOCH", "10")
        .env("BATCH_SIZE", "4");
    command
}

#[test]
fn a_killed_training_run_resumes_to_the_same_weights() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    support::write_two_class_folder(&data, 16);

    let straight = work.path().join("straight.weights");
    let output = succeed(&mut train_command(
        &data,
        &work.path().join("ck-straight"),
        &straight,
    ));
    assert!(String::from_utf8_lossy(&output.stderr).contains("epoch 6/6"));

    // Kill a second run once it has checkpointed at least one epoch, then resume it.
    let checkpoints = work.path().join("ck-killed");
    let resumed = work.path().join("resumed.weights");
    let mut child = train_command(&data, &checkpoints, &resumed)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let checkpoint_file = checkpoints.join(designer_train::checkpoint::FILE_NAME);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !checkpoint_file.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!resumed.exists(), "the run was killed before it finished");
    let killed_at = designer_train::checkpoint::Checkpoint::load(&checkpoints)
        .unwrap()
        .unwrap()
        .state
        .step;
    assert!((10..60).contains(&killed_at), "killed at step {killed_at}");

    let output = train_command(&data, &checkpoints, &resumed)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("resuming at step {killed_at}")),
        "{stderr}"
    );
    let values = |path: &std::path::Path| support::parameter_values(&std::fs::read(path).unwrap());
    assert!(
        values(&straight) == values(&resumed),
        "resumed parameters differ from the uninterrupted run's"
    );
}

#[test]
fn invalid_training_environment_names_the_variable() {
    let output = designer()
        .args(["train", "--catalog", "/nonexistent"])
        .env("BATCH_SIZE", "lots")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("BATCH_SIZE must be a positive integer, got 'lots'"),
        "{stderr}"
    );
    let help = designer().args(["train", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for name in [
        "EPOCHS",
        "BATCH_SIZE",
        "STEPS_PER_EPOCH",
        "LEARNING_RATE",
        "IMAGE_SIZE",
        "MAX_IMAGE_SIZE",
        "CHECKPOINT_DIR",
    ] {
        assert!(help.contains(name), "--help lacks {name}");
    }
}

/// The small model's weights file (64 px), which every build embeds.
fn small_weights() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../weights/scenes-64.weights")
}

fn catalog_root() -> std::path::PathBuf {
    std::env::var_os("DESIGNER_CATALOG")
        .map(Into::into)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.cache/catalog")
        })
}

#[test]
fn scenes_writes_a_labelled_dataset_that_training_reads() {
    let out = tempfile::tempdir().unwrap();
    let data = out.path().join("scenes");
    succeed(
        designer()
            .args([
                "scenes",
                "--count",
                "20",
                "--size",
                "64",
                "--seed",
                "100",
                "--catalog",
            ])
            .arg(catalog_root())
            .arg("--out")
            .arg(&data),
    );
    let labels = std::fs::read_to_string(data.join("labels.jsonl")).unwrap();
    let lines: Vec<serde_json::Value> = labels
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20);
    // Room types cycle fastest, seeds count up from --seed.
    assert_eq!(lines[0]["room_type"], "living_room");
    assert_eq!(lines[1]["room_type"], "bedroom");
    assert_eq!(lines[8]["room_type"], "laundry_room");
    assert_eq!(lines[9]["room_type"], "living_room");
    assert_eq!(lines[9]["style"], "minimalist");
    assert_eq!(lines[19]["seed"], 119);
    for line in &lines {
        let image = line["image"].as_str().unwrap();
        assert!(image.starts_with("shard-00000/"), "{image}");
        let png = image::open(data.join(image)).unwrap();
        assert_eq!((png.width(), png.height()), (64, 64));
        let items = line["items"].as_array().unwrap();
        assert!(items.iter().any(|i| i["role"] == "door"));
        assert!(
            items
                .iter()
                .all(|i| i["id"].as_str().unwrap().contains('#'))
        );
    }
    // The folder is a training source as it stands.
    let folder = designer_train::dataset::LabelledFolder::open(&data, 64).unwrap();
    assert_eq!(folder.len(), 20);
}

#[test]
fn scenes_refuses_bad_sizes_and_a_missing_catalog_clearly() {
    let output = designer()
        .args(["scenes", "--size", "600", "--sheet", "x.png"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--size 600 is outside 64..=512"),
        "{stderr}"
    );
    let output = designer()
        .args(["scenes", "--catalog", "/nonexistent", "--sheet", "x.png"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("make data"), "{stderr}");
    let output = designer().args(["scenes"]).output().unwrap();
    assert!(!output.status.success(), "needs --out or --sheet");
}

#[test]
fn eval_reports_accuracies_and_a_frechet_distance() {
    let output = succeed(
        designer()
            .args([
                "eval",
                "--json",
                "--train-per-label",
                "2",
                "--test-per-label",
                "1",
            ])
            .args([
                "--generated-per-label",
                "1",
                "--epochs",
                "1",
                "--steps",
                "2",
                "--size",
                "64",
                "--catalog",
            ])
            .arg(catalog_root()),
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["real"]["count"], 48);
    assert_eq!(report["generated"]["count"], 48);
    assert_eq!(report["classifier"]["train_renders"], 96);
    for set in ["real", "generated"] {
        for head in ["room_type", "style", "both"] {
            let a = report[set]["accuracy"][head].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{set} {head}: {a}");
        }
    }
    assert!(report["frechet_distance"].as_f64().unwrap() >= 0.0);
    // Each of the model's six room types, its anchor piece in renders and designs.
    let anchors = report["anchors"].as_array().unwrap();
    assert_eq!(anchors.len(), 6, "{report}");
    for row in anchors {
        for share in ["real_shown", "real_found", "generated_found"] {
            let a = row[share].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&a), "{row}");
        }
        assert!(
            row["real_shown"].as_f64().unwrap() > 0.0,
            "the renders show it: {row}"
        );
    }
    assert!(report["model"].as_str().unwrap().starts_with("designer-"));
    // The small model (64 px) follows no layouts and has no autoencoder: there is no
    // restyling to judge, and no reconstruction floor.
    assert!(report["restyle"].is_null(), "{report}");
    assert!(report["autoencoder_frechet_distance"].is_null(), "{report}");
    let bad = designer()
        .args(["eval", "--test-per-label", "0"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 1"));
}

#[test]
fn eval_judges_several_models_by_one_classifier_on_the_same_renders() {
    let out = tempfile::tempdir().unwrap();
    let (f32_file, int8_file) = (
        out.path().join("f32.weights"),
        out.path().join("int8.weights"),
    );
    for (precision, file) in [("f32", &f32_file), ("int8", &int8_file)] {
        succeed(
            designer()
                .args(["export", "--weights"])
                .arg(small_weights())
                .args(["--precision", precision, "--out"])
                .arg(file),
        );
    }
    let output = succeed(
        designer()
            .args([
                "eval",
                "--json",
                "--train-per-label",
                "2",
                "--test-per-label",
                "1",
            ])
            .args([
                "--generated-per-label",
                "1",
                "--epochs",
                "1",
                "--steps",
                "2",
                "--size",
                "64",
            ])
            .arg("--catalog")
            .arg(catalog_root())
            .arg("--weights")
            .arg(&f32_file)
            .arg("--also")
            .arg(&f32_file)
            .arg("--also")
            .arg(&int8_file),
    );
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = reports
        .as_array()
        .expect("a list of reports, one per model");
    assert_eq!(reports.len(), 3);
    for report in &reports[1..] {
        assert_eq!(
            report["real"], reports[0]["real"],
            "one judge, the same renders"
        );
        assert_eq!(report["classifier"], reports[0]["classifier"]);
    }
    // The same weights twice: the same designs, so the same numbers.
    assert_eq!(reports[1]["generated"], reports[0]["generated"]);
    assert_eq!(
        reports[1]["frechet_distance"],
        reports[0]["frechet_distance"]
    );
    assert_eq!(reports[1]["model"], reports[0]["model"]);
    assert_ne!(
        reports[2]["model"], reports[0]["model"],
        "the int8 file is named apart"
    );
    assert_eq!(reports[2]["generated"]["count"], 48);
}

#[test]
fn eval_judges_a_latent_model_at_several_guidances_and_its_autoencoders_floor() {
    // The default 256 px model asked for 64 px: the same networks on a small grid, cheap.
    let default = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../weights/designer-256.weights");
    let output = succeed(
        designer()
            .args(["eval", "--json", "--train-per-label", "1"])
            .args(["--test-per-label", "1", "--generated-per-label", "1"])
            .args(["--epochs", "1", "--steps", "2", "--size", "64"])
            .args(["--restyle-photos", "4"])
            .args(["--also-guidance", "1", "--also-guidance", "6"])
            .arg("--catalog")
            .arg(catalog_root())
            .arg("--weights")
            .arg(&default),
    );
    let reports: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let reports = reports.as_array().expect("one report per guidance weight");
    let guidances: Vec<f64> = reports
        .iter()
        .map(|r| r["generated"]["guidance"].as_f64().unwrap())
        .collect();
    assert_eq!(guidances, [3.0, 1.0, 6.0]);
    let floor = reports[0]["autoencoder_frechet_distance"].as_f64().unwrap();
    assert!(floor.is_finite() && floor >= 0.0, "{floor}");
    for report in &reports[1..] {
        assert_eq!(report["real"], reports[0]["real"], "one judge");
        assert_eq!(
            report["frechet_distance_real_vs_real"],
            reports[0]["frechet_distance_real_vs_real"]
        );
        // One model, one autoencoder: its floor does not depend on the guidance.
        assert_eq!(report["autoencoder_frechet_distance"], floor);
        assert_eq!(
            report["autoencoder_psnr_db"],
            reports[0]["autoencoder_psnr_db"]
        );
        // The restyle is judged once, at --guidance.
        assert!(report["restyle"].is_null(), "{report}");
    }
    assert!(reports[0]["restyle"].is_object(), "{}", reports[0]);
    // Other guidance, other designs.
    assert_ne!(
        reports[1]["frechet_distance"], reports[2]["frechet_distance"],
        "guidance 1 and 6 drew the same designs"
    );
    let bad = designer()
        .args(["eval", "--also-guidance", "25"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a guidance weight"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[test]
fn generate_restyles_a_photo_and_refuses_bad_ones_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let room = |width: u32, height: u32| {
        let room = image::RgbImage::from_fn(width, height, |x, y| {
            let window = (12..24).contains(&x) && (8..20).contains(&y);
            image::Rgb(if window {
                [40, 40, 50]
            } else {
                [200, 180, 160]
            })
        });
        designer_core::image::encode_png(&room)
    };
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let good = file("room.png", &room(48, 40));
    let png = room(48, 40);
    let generate = |photo: &std::path::Path, extra: &[&str]| {
        designer()
            .args([
                "generate",
                "--variations",
                "1",
                "--steps",
                "2",
                "--size",
                "32",
            ])
            .arg("--photo")
            .arg(photo)
            .args(extra)
            .arg("--out")
            .arg(dir.path().join("designs"))
            .output()
            .unwrap()
    };

    let output = generate(&good, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("from the photo (48 x 40, centre-cropped), keeping its colours"),
        "{stderr}"
    );

    let cases: [(std::path::PathBuf, &[&str], &str); 7] = [
        (
            file("notes.txt", b"not a photo"),
            &[],
            "invalid photo: not a PNG or JPEG image",
        ),
        (
            file("huge.png", &vec![0x89; 4 * 1024 * 1024 + 1]),
            &[],
            "larger than 4194304 bytes",
        ),
        (
            file("half.png", &png[..png.len() / 2]),
            &[],
            "invalid photo: corrupt PNG",
        ),
        (
            file("tiny.png", &room(31, 40)),
            &[],
            "invalid photo: must be at least 32 x 32 pixels, got 31 x 40",
        ),
        (
            file("bomb.png", &room(5000, 32)),
            &[],
            "invalid photo: too large to decode: at most 4096 x 4096 pixels",
        ),
        (
            good.clone(),
            &["--keep", "layout"],
            "invalid keep: the model designer-scenes-64@",
        ),
        (
            good.clone(),
            &["--keep", "walls"],
            "invalid value 'walls' for '--keep <KEEP>'",
        ),
    ];
    for (photo, extra, needle) in cases {
        let output = generate(&photo, extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{photo:?} {extra:?} succeeded");
        assert!(stderr.contains(needle), "{photo:?} {extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // --keep says what to keep of a photo: without one it is refused.
    let output = designer()
        .args(["generate", "--keep", "colours", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--photo <PHOTO>"), "{stderr}");
}

#[test]
fn a_metrics_file_that_cannot_be_opened_is_named() {
    let output = designer()
        .args(["train", "--steps-per-epoch", "1", "--epochs", "1"])
        .args(["--metrics", "/nonexistent/folder/metrics.jsonl", "--out"])
        .arg(std::env::temp_dir().join("never.weights"))
        .arg("--catalog")
        .arg(catalog_root())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("--metrics /nonexistent/folder/metrics.jsonl: cannot open it"),
        "{stderr}"
    );
}
