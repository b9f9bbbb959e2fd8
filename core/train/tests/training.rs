//! The training loop learns: on a tiny labelled folder its loss falls, and the weights it
//! writes load back into a working Designer.

use burn::tensor::{Device, Tensor};
use designer_core::model::{Condition, ModelConfig, Scalar};
use designer_core::request::DesignRequest;
use designer_core::weights::Weights;
use designer_core::{Designer, RoomType, Style};
use designer_train::dataset::{ExampleSource, LABELS_FILE, LabelledFolder, mirrored};
use designer_train::train::{Provenance, TrainConfig, Trainer};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;

mod support;
use support::parameter_values;

fn write_folder(dir: &std::path::Path) {
    support::write_two_class_folder(dir, 24);
}

/// A network small enough for a few CPU steps per test.
fn tiny_model() -> ModelConfig {
    ModelConfig {
        base_channels: 8,
        cond_dim: 16,
        groups: 4,
        ..ModelConfig::default()
    }
}

fn tiny_provenance() -> Provenance {
    Provenance {
        name: "tiny".into(),
        image_size: 16,
        trained_on: "test".into(),
    }
}

#[test]
fn a_tiny_training_run_lowers_the_loss_and_its_weights_generate() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    assert_eq!(folder.len(), 8);

    let config = TrainConfig {
        steps: 60,
        batch_size: 8,
        learning_rate: 3e-3,
        warmup_steps: 5,
        report_every: 1,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(
        ModelConfig {
            base_channels: 8,
            cond_dim: 32,
            groups: 4,
            ..ModelConfig::default()
        },
        Device::flex(),
        config,
    );
    let mut losses = Vec::new();
    trainer
        .run(&mut folder, &mut |report| losses.extend(report.loss))
        .unwrap();
    assert_eq!(trainer.step_count(), 60);
    assert_eq!(losses.len(), 60);
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let (early, late) = (mean(&losses[..10]), mean(&losses[50..]));
    assert!(
        late < early * 0.7,
        "loss did not fall enough: {early} -> {late}"
    );

    let provenance = Provenance {
        name: "tiny".into(),
        image_size: 16,
        trained_on: folder.describe(),
    };
    let bytes = trainer.to_weights(&provenance).unwrap();
    let weights = Weights::from_bytes(&bytes).unwrap();
    assert_eq!(weights.header.training_steps, 60);
    let designer = Designer::new(&weights, Device::flex(), "cpu").unwrap();
    let request = DesignRequest {
        size: 32,
        steps: Some(2),
        variations: 1,
        ..DesignRequest::new(RoomType::Bedroom, Style::Rustic)
    };
    assert_eq!(designer.generate(&request).unwrap().designs.len(), 1);
}

#[test]
fn bad_label_files_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut labels = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join(LABELS_FILE))
        .unwrap();
    writeln!(
        labels,
        r#"{{"image":"0.png","room_type":"attic","style":"modern"}}"#
    )
    .unwrap();
    let err = LabelledFolder::open(dir.path(), 16)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("labels.jsonl:9") && err.contains("unknown room type 'attic'"),
        "{err}"
    );
    let empty = tempfile::tempdir().unwrap();
    assert!(
        LabelledFolder::open(empty.path(), 16)
            .err()
            .unwrap()
            .to_string()
            .contains("cannot read")
    );
}

#[test]
fn examples_are_drawn_reproducibly_and_mirroring_flips_rows() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let open = || LabelledFolder::open(dir.path(), 16).unwrap();
    let draw = |mut folder: LabelledFolder| {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        (0..10)
            .map(|_| folder.next_example(&mut rng).unwrap().pixels)
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(open()), draw(open()));
    let mut folder = open();
    let example = folder
        .next_example(&mut ChaCha8Rng::seed_from_u64(1))
        .unwrap();
    let flipped = mirrored(&example, 16);
    assert_eq!(flipped.pixels[0], example.pixels[15]);
    assert_eq!(mirrored(&flipped, 16).pixels, example.pixels);
}

#[test]
fn a_resumed_run_ends_exactly_where_an_uninterrupted_one_does() {
    use designer_train::checkpoint::Checkpoint;
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let provenance = tiny_provenance();
    let config = TrainConfig {
        steps: 12,
        batch_size: 4,
        warmup_steps: 2,
        seed: 9,
        ..TrainConfig::default()
    };
    let model = tiny_model();
    let open = || LabelledFolder::open(dir.path(), 16).unwrap();

    // Both runs start from one initialisation: burn draws initial parameters from a
    // process-wide generator, which the tests running beside this one use too.
    let fresh = Trainer::new(model, Device::flex(), config.clone());
    let initial = Weights::from_bytes(&fresh.to_weights(&provenance).unwrap()).unwrap();
    let mut straight = Trainer::from_weights(&initial, Device::flex(), config.clone()).unwrap();
    straight.run(&mut open(), &mut |_| {}).unwrap();

    let mut first_half = Trainer::from_weights(&initial, Device::flex(), config.clone()).unwrap();
    let mut first_folder = open();
    first_half
        .run_until(5, &mut first_folder, &mut |_| {})
        .unwrap();
    let bytes = first_half
        .checkpoint(&provenance, &first_folder)
        .unwrap()
        .encode()
        .unwrap();
    drop(first_half);
    let checkpoint = Checkpoint::decode(&bytes).unwrap();
    assert_eq!(checkpoint.state.step, 5);
    // The folder streams through its shuffle buffer: the checkpoint names what it held.
    assert!(checkpoint.state.source.is_some());
    let mut folder = open();
    let mut resumed =
        Trainer::resume(&checkpoint, Device::flex(), config.clone(), &mut folder).unwrap();
    resumed.run(&mut folder, &mut |_| {}).unwrap();

    assert_eq!(resumed.step_count(), 12);
    let values = |t: &Trainer| parameter_values(&t.to_weights(&provenance).unwrap());
    assert!(
        values(&straight) == values(&resumed),
        "resumed parameters differ from the uninterrupted run's"
    );
    let other_seed = TrainConfig {
        seed: 10,
        ..config.clone()
    };
    let err = Trainer::resume(&checkpoint, Device::flex(), other_seed, &mut open())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("seed 9"), "{err}");
    // A step edited past the run's end is refused, not exported at once.
    let mut edited = checkpoint.clone();
    edited.state.step = 999_999;
    let err = Trainer::resume(&edited, Device::flex(), config, &mut open())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("step 999999 of 12, past this run's 12 steps"),
        "{err}"
    );
}

#[test]
fn unreadable_images_are_skipped_and_counted_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    // Break two of the eight images after the folder was written: one truncated, one gone.
    let labels = std::fs::read_to_string(dir.path().join(LABELS_FILE)).unwrap();
    let images: Vec<String> = labels
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["image"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    std::fs::write(dir.path().join(&images[3]), b"\x89PNG\r\n\x1a\nshort").unwrap();
    std::fs::remove_file(dir.path().join(&images[5])).unwrap();
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let batch = folder.next_batch(20, &mut rng).unwrap();
    assert_eq!(batch.len(), 20);
    let skipped = folder.skipped();
    assert!(
        skipped.get(designer_train::dataset::Skip::Decode) >= 1,
        "{skipped}"
    );
    assert!(
        skipped.get(designer_train::dataset::Skip::Unreadable) >= 1,
        "{skipped}"
    );
    assert!(skipped.to_string().contains("decode"));

    // A folder with nothing usable left is an error that says so, not a hang or a panic.
    for image in &images {
        std::fs::write(dir.path().join(image), b"not an image").unwrap();
    }
    let err = folder.next_batch(2000, &mut rng).err().unwrap().to_string();
    assert!(err.contains("no usable image"), "{err}");
}

#[test]
fn the_eval_classifier_learns_two_clearly_different_classes() {
    use designer_train::eval::{evaluate, train_classifier};
    let dir = tempfile::tempdir().unwrap();
    support::write_two_class_folder(dir.path(), 64);
    let mut folder = LabelledFolder::open(dir.path(), 64).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let examples = folder.next_batch(64, &mut rng).unwrap();
    let device = Device::flex();
    // The furniture head is told that the bedrooms show a bed and the kitchens counters.
    use designer_scene::furniture::Role;
    let shown: Vec<Vec<bool>> = examples
        .iter()
        .map(|e| {
            let anchor = if e.room == RoomType::Bedroom {
                Role::Bed
            } else {
                Role::KitchenBase
            };
            Role::ALL.iter().map(|r| *r == anchor).collect()
        })
        .collect();
    let classifier = train_classifier(&examples, &shown, 64, 6, 16, 1, &device, &mut |_, _, _| {});
    let judged = evaluate(&classifier, &examples, 64, &device);
    // Bedroom/rustic versus kitchen/modern: every head separates them.
    assert!(judged.accuracy.both > 0.95, "{:?}", judged.accuracy);
    assert_eq!(judged.features.len(), 64);
    assert_eq!(judged.features[0].len(), designer_train::eval::FEATURES);
    let found = judged.anchor_found.iter().filter(|f| **f).count();
    assert!(found > 60, "the anchor found in {found} of 64");
}

#[test]
fn mixed_precision_trains_the_f32_parameters_as_an_f32_run_does() {
    use designer_train::precision::TrainingPrecision;
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let provenance = tiny_provenance();
    let config = TrainConfig {
        steps: 12,
        batch_size: 8,
        warmup_steps: 2,
        report_every: 1,
        ema_decay: None,
        seed: 3,
        ..TrainConfig::default()
    };
    let model = tiny_model();
    let fresh = Trainer::new(model, Device::flex(), config.clone());
    let initial_bytes = fresh.to_weights(&provenance).unwrap();
    let initial = Weights::from_bytes(&initial_bytes).unwrap();
    let train = |precision| {
        let config = TrainConfig {
            precision,
            ..config.clone()
        };
        let mut trainer = Trainer::from_weights(&initial, Device::flex(), config).unwrap();
        let mut losses = Vec::new();
        let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
        trainer
            .run(&mut folder, &mut |report| losses.extend(report.loss))
            .unwrap();
        (
            losses,
            parameter_values(&trainer.to_weights(&provenance).unwrap()),
        )
    };
    let (f32_losses, f32_values) = train(TrainingPrecision::Uniform);
    let (mixed_losses, mixed_values) = train(TrainingPrecision::MixedF16);

    assert_eq!(mixed_losses.len(), 12);
    for (step, (mixed, full)) in mixed_losses.iter().zip(&f32_losses).enumerate() {
        assert!(
            (mixed - full).abs() <= 0.02 * full,
            "step {step}: mixed-precision loss {mixed} strays from the f32 run's {full}"
        );
    }
    // The gradients reach the f32 parameters through the casts: they move as far as the f32
    // run's do, and to nearly the same place.
    let mean_distance = |a: &[f32], b: &[f32]| {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    };
    let initial_values = parameter_values(&initial_bytes);
    let moved = mean_distance(&f32_values, &initial_values);
    let mixed_moved = mean_distance(&mixed_values, &initial_values);
    let apart = mean_distance(&mixed_values, &f32_values);
    assert!(moved > 0.0);
    assert!(
        (mixed_moved - moved).abs() < 0.1 * moved && apart < 0.2 * moved,
        "f32 run moved {moved}, mixed {mixed_moved}; they ended {apart} apart"
    );
}

#[test]
fn a_diverging_run_stops_with_an_error_at_the_first_non_finite_loss() {
    use designer_train::train::TrainError;
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    // Adam moves each parameter by about the learning rate per step: 1e30 overflows the
    // activations within a step or two.
    let config = TrainConfig {
        steps: 20,
        batch_size: 8,
        learning_rate: 1e30,
        warmup_steps: 1,
        report_every: 1,
        ..TrainConfig::default()
    };
    let model = tiny_model();
    let mut trainer = Trainer::new(model, Device::flex(), config);
    let mut losses = Vec::new();
    let error = trainer
        .run(&mut folder, &mut |report| losses.extend(report.loss))
        .unwrap_err();
    let message = error.to_string();
    let TrainError::Diverged { step, loss } = error else {
        panic!("expected a divergence, got {message}");
    };
    assert!(!loss.is_finite());
    assert!(step < 20, "the run went on after the loss was {loss}");
    assert_eq!(trainer.step_count(), step);
    assert_eq!(losses.len() as u64, step);
    assert!(losses[..losses.len() - 1].iter().all(|l| l.is_finite()));
    assert!(message.contains(&format!("step {step}")), "{message}");
}

#[test]
fn a_run_driven_in_chunks_checkpoints_every_epoch_and_ends_as_one_straight_run() {
    use designer_train::checkpoint::Checkpoint;
    use designer_train::run::{EpochEnd, Quiet, RunObserver, RunPlan, Start, run};
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let config = TrainConfig {
        steps: 10,
        batch_size: 4,
        warmup_steps: 2,
        seed: 3,
        ..TrainConfig::default()
    };
    let plan = |max_steps| RunPlan {
        config: config.clone(),
        steps_per_epoch: 4,
        max_steps,
        name: "tiny".into(),
        export_trained: true,
        teacher: None,
    };
    let fresh = Trainer::new(tiny_model(), Device::flex(), config.clone());
    let initial = Weights::from_bytes(&fresh.to_weights(&tiny_provenance()).unwrap()).unwrap();
    let open = || LabelledFolder::open(dir.path(), 16).unwrap();

    struct Epochs(Vec<(u64, u64, u64)>);
    impl RunObserver for Epochs {
        fn epoch(&mut self, end: &EpochEnd) {
            self.0.push((end.epoch, end.epochs, end.step));
        }
    }
    let mut epochs = Epochs(Vec::new());
    let mut saved = Vec::new();
    let straight = run(
        Start::Weights(initial.clone()),
        Device::flex(),
        &plan(None),
        &mut open(),
        &mut |c| {
            saved.push(c.state.step);
            Ok(format!("step {}", c.state.step))
        },
        &mut epochs,
    )
    .unwrap();
    assert!(straight.finished);
    assert_eq!((straight.first_step, straight.step), (0, 10));
    assert_eq!(
        saved,
        [4, 8, 10],
        "a checkpoint after every epoch and at the end"
    );
    assert_eq!(epochs.0, [(1, 3, 4), (2, 3, 8), (3, 3, 10)]);
    assert!(straight.loss.is_some_and(f32::is_finite));
    let trained = straight.trained_weights.expect("the plan asked for them");
    assert_ne!(
        parameter_values(&trained),
        parameter_values(&straight.weights)
    );

    // Chunks of at most 3 steps, each resuming from the last one's checkpoint, as the Lambda's
    // `train` invocations do.
    let mut last: Option<Checkpoint> = None;
    let mut start = Start::Weights(initial);
    let mut chunks = Vec::new();
    loop {
        let mut folder = open();
        let outcome = run(
            start,
            Device::flex(),
            &plan(Some(3)),
            &mut folder,
            &mut |c| {
                last = Some(c);
                Ok(String::new())
            },
            &mut Quiet,
        )
        .unwrap();
        chunks.push((outcome.first_step, outcome.step));
        if outcome.finished {
            assert_eq!(
                parameter_values(&outcome.weights),
                parameter_values(&straight.weights),
                "the chained run's weights differ from the straight run's"
            );
            break;
        }
        let bytes = last.take().unwrap().encode().unwrap();
        start = Start::Resume(Checkpoint::decode(&bytes).unwrap());
    }
    assert_eq!(chunks, [(0, 3), (3, 6), (6, 9), (9, 10)]);
}

/// Generator v2 at its smallest, over an f = 2 autoencoder's latents.
fn tiny_latent_model() -> ModelConfig {
    use designer_core::model::Architecture;
    use designer_core::model::autoencoder::AutoencoderShape;
    use designer_core::model::unet::UNetShape;
    ModelConfig {
        architecture: Architecture::UNetV2(UNetShape {
            multipliers: vec![1, 2],
            blocks: 1,
            attention_from: 1,
            head_channels: 8,
            autoencoder: Some(AutoencoderShape {
                latent_channels: 4,
                channels: vec![8, 16],
            }),
        }),
        ..tiny_model()
    }
}

/// What the autoencoder in `weights` makes of a white 16 px picture.
fn encoded(weights: &Weights) -> burn::tensor::TensorData {
    let model = weights.build(&Device::flex()).unwrap();
    let images = burn::tensor::Tensor::<4>::ones([1, 3, 16, 16], &Device::flex());
    model.autoencoder().unwrap().encode_raw(images).into_data()
}

/// The reconstruction objectives' runs in these tests: `steps` steps of 8 pictures, learning
/// fast, reporting every step.
fn reconstruction_config(
    objective: designer_train::train::Objective,
    steps: u64,
    crop: Option<usize>,
) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 8,
        learning_rate: 3e-3,
        warmup_steps: 2,
        report_every: 1,
        objective,
        autoencoder_crop: crop,
        ..TrainConfig::default()
    }
}

/// Runs `trainer` over `folder`: the mean loss of its first five steps and of its last five.
fn early_and_late_loss(trainer: &mut Trainer, folder: &mut LabelledFolder) -> (f32, f32) {
    let mut losses = Vec::new();
    trainer
        .run(folder, &mut |report| losses.extend(report.loss))
        .unwrap();
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    (mean(&losses[..5]), mean(&losses[losses.len() - 5..]))
}

#[test]
fn the_autoencoder_learns_first_and_the_flow_then_learns_over_its_frozen_latents() {
    use designer_train::train::{Objective, TrainError};
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    let config = reconstruction_config(Objective::Autoencoder, 40, None);
    let mut trainer = Trainer::new(tiny_latent_model(), Device::flex(), config.clone());
    let (early, late) = early_and_late_loss(&mut trainer, &mut folder);
    assert!(
        late < early * 0.7,
        "reconstruction did not improve: {early} -> {late}"
    );
    let autoencoder =
        Weights::from_bytes(&trainer.to_weights(&tiny_provenance()).unwrap()).unwrap();

    // The flow from those weights: the latent statistics are measured on its first batch, in
    // the weights it exports (the average's too), and the autoencoder is not trained further.
    let flow = TrainConfig {
        steps: 3,
        objective: Objective::Flow,
        ..config
    };
    let mut trainer = Trainer::from_weights(&autoencoder, Device::flex(), flow).unwrap();
    trainer.run(&mut folder, &mut |_| {}).unwrap();
    for bytes in [
        trainer.to_weights(&tiny_provenance()).unwrap(),
        trainer.to_trained_weights(&tiny_provenance()).unwrap(),
    ] {
        let model = Weights::from_bytes(&bytes)
            .unwrap()
            .build(&Device::flex())
            .unwrap();
        assert!(model.autoencoder().unwrap().has_statistics());
    }
    let after =
        Weights::from_bytes(&trainer.to_trained_weights(&tiny_provenance()).unwrap()).unwrap();
    assert_eq!(
        encoded(&autoencoder),
        encoded(&after),
        "the flow left the encoder alone"
    );

    // A pixel network has no autoencoder to train.
    let mut pixels = Trainer::new(
        tiny_model(),
        Device::flex(),
        TrainConfig {
            steps: 1,
            batch_size: 2,
            objective: Objective::Autoencoder,
            ..TrainConfig::default()
        },
    );
    let error = pixels.run(&mut folder, &mut |_| {}).unwrap_err();
    assert!(matches!(error, TrainError::NoAutoencoder), "{error}");
}

/// The decoder objective: the reconstruction improves while the encoder, and so the latents a
/// denoiser was trained over, stay exactly as they were.
#[test]
fn the_decoder_learns_alone_and_the_latents_stay_as_they_were() {
    use designer_train::train::{Objective, TrainError};
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    // Alone, and against a patch critic (whose term is not in the reported loss: the
    // reconstruction still has to fall with it).
    for adversarial in [None, Some(0.5)] {
        let config = TrainConfig {
            adversarial,
            ..reconstruction_config(Objective::Decoder, 40, None)
        };
        let mut trainer = Trainer::new(tiny_latent_model(), Device::flex(), config);
        let before = Weights::from_bytes(&trainer.to_weights(&tiny_provenance()).unwrap()).unwrap();
        let (early, late) = early_and_late_loss(&mut trainer, &mut folder);
        assert!(
            late < early * 0.8,
            "the decoder learnt nothing (critic {adversarial:?}): {early} -> {late}"
        );
        let after = Weights::from_bytes(&trainer.to_weights(&tiny_provenance()).unwrap()).unwrap();
        assert_eq!(encoded(&before), encoded(&after), "the encoder moved");
        let decoded = |weights: &Weights| {
            let model = weights.build(&Device::flex()).unwrap();
            let autoencoder = model.autoencoder().unwrap();
            let images = burn::tensor::Tensor::<4>::ones([1, 3, 16, 16], &Device::flex());
            autoencoder
                .decode_raw(autoencoder.encode_raw(images))
                .into_data()
        };
        assert_ne!(
            decoded(&before),
            decoded(&after),
            "the decoder did not move"
        );
    }
    // A critic has nothing to judge in a flow run: refused before any step.
    let flow = TrainConfig {
        adversarial: Some(0.5),
        ..reconstruction_config(Objective::Flow, 2, None)
    };
    let mut trainer = Trainer::new(tiny_latent_model(), Device::flex(), flow);
    let error = trainer.run(&mut folder, &mut |_| {}).unwrap_err();
    assert!(matches!(error, TrainError::Adversarial), "{error}");
    assert_eq!(trainer.step_count(), 0);
}

/// The autoencoder learns from crops, and a transformer then learns the flow over it.
#[test]
fn a_new_denoiser_learns_over_an_autoencoder_trained_on_crops() {
    use designer_core::model::Architecture;
    use designer_core::model::dit::DiTShape;
    use designer_train::train::{Objective, TrainError};
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    let config = reconstruction_config(Objective::Autoencoder, 30, Some(8));
    let mut trainer = Trainer::new(tiny_latent_model(), Device::flex(), config.clone());
    let (early, late) = early_and_late_loss(&mut trainer, &mut folder);
    assert!(
        late < early * 0.8,
        "crops taught nothing: {early} -> {late}"
    );
    let autoencoder =
        Weights::from_bytes(&trainer.to_weights(&tiny_provenance()).unwrap()).unwrap();

    // A crop the autoencoder (f = 2) cannot encode whole is refused before any step.
    let mut odd = Trainer::new(
        tiny_latent_model(),
        Device::flex(),
        TrainConfig {
            autoencoder_crop: Some(7),
            ..config.clone()
        },
    );
    let error = odd.run(&mut folder, &mut |_| {}).unwrap_err();
    assert!(
        matches!(error, TrainError::Crop { crop: 7, factor: 2 }),
        "{error}"
    );

    let shape = tiny_latent_model().architecture.autoencoder().cloned();
    let dit = |autoencoder| ModelConfig {
        base_channels: 16,
        architecture: Architecture::DiT(DiTShape {
            patch: 2,
            depth: 1,
            head_channels: 8,
            mlp_ratio: 2,
            autoencoder,
            layout: false,
            guidance: false,
            step_size: false,
        }),
        ..tiny_model()
    };
    let flow = TrainConfig {
        steps: 3,
        objective: Objective::Flow,
        autoencoder_crop: None,
        ..config
    };
    let mut trainer = Trainer::over_autoencoder(
        dit(shape.clone()),
        &autoencoder,
        Device::flex(),
        flow.clone(),
    )
    .unwrap();
    let mut losses = Vec::new();
    trainer
        .run(&mut folder, &mut |report| losses.extend(report.loss))
        .unwrap();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let after =
        Weights::from_bytes(&trainer.to_trained_weights(&tiny_provenance()).unwrap()).unwrap();
    assert!(matches!(
        after.header.model.architecture,
        Architecture::DiT(_)
    ));
    assert_eq!(
        encoded(&autoencoder),
        encoded(&after),
        "the new network kept the trained encoder"
    );

    // Over an autoencoder of another shape, or none, is refused.
    let other = shape.clone().map(|mut a| {
        a.latent_channels = 2;
        a
    });
    for wanted in [other, None] {
        let error =
            Trainer::over_autoencoder(dit(wanted), &autoencoder, Device::flex(), flow.clone())
                .err()
                .unwrap();
        assert!(
            matches!(error, TrainError::AutoencoderShape { .. }),
            "{error}"
        );
    }

    // Learning to keep a layout: the transformer gains the layer (at zero) and the steps,
    // over reused latents each kept beside its render's edge map, teach it, so that a map
    // now steers the velocity.
    let mut learner = Trainer::over_autoencoder(
        dit(shape.clone()),
        &autoencoder,
        Device::flex(),
        TrainConfig {
            learn_layout: true,
            latent_reuse: 2,
            ..flow.clone()
        },
    )
    .unwrap();
    learner.run(&mut folder, &mut |_| {}).unwrap();
    let learnt =
        Weights::from_bytes(&learner.to_trained_weights(&tiny_provenance()).unwrap()).unwrap();
    assert!(matches!(&learnt.header.model.architecture, Architecture::DiT(s) if s.layout));
    let device = Device::flex();
    let model = learnt.build(&device).unwrap();
    let [c, side, _] = learnt.header.model.sample_shape(16);
    let factor = 16 / side;
    let velocity = |layout| {
        model.forward_with_layout(
            Tensor::<4>::zeros([1, c, side, side], &device),
            Tensor::<1>::from_floats([0.5], &device),
            &[Condition::UNCONDITIONAL],
            layout,
        )
    };
    let map = Tensor::<4>::ones([1, factor * factor, side, side], &device);
    let moved = (velocity(None) - velocity(Some(map)))
        .abs()
        .sum()
        .into_scalar::<f32>();
    assert!(moved > 0.0, "the layout layer learnt nothing");
    // A U-Net cannot learn one.
    let error = Trainer::fresh(
        tiny_latent_model(),
        Device::flex(),
        TrainConfig {
            learn_layout: true,
            ..flow
        },
    )
    .err()
    .unwrap();
    assert!(matches!(error, TrainError::Layers(_)), "{error}");
}

/// A source that counts what is drawn from it.
struct Counted<S> {
    inner: S,
    drawn: usize,
}

impl<S: designer_train::dataset::ExampleSource> designer_train::dataset::ExampleSource
    for Counted<S>
{
    fn image_size(&self) -> u32 {
        self.inner.image_size()
    }
    fn next_example(
        &mut self,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Result<designer_train::dataset::Example, designer_train::dataset::SourceError> {
        self.drawn += 1;
        self.inner.next_example(rng)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// With latent reuse, a step over latents draws only its share of new renders (the first a
/// whole batch), and the flow still learns.
#[test]
fn reused_latents_cut_the_renders_a_step_draws() {
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let folder = LabelledFolder::open(dir.path(), 16).unwrap();
    let mut source = Counted {
        inner: folder,
        drawn: 0,
    };
    let config = TrainConfig {
        steps: 6,
        batch_size: 8,
        learning_rate: 3e-3,
        warmup_steps: 2,
        report_every: 1,
        latent_reuse: 4,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(tiny_latent_model(), Device::flex(), config);
    let mut losses = Vec::new();
    trainer
        .run(&mut source, &mut |report| losses.extend(report.loss))
        .unwrap();
    assert_eq!(source.drawn, 8 + 5 * 2);
    assert_eq!(losses.len(), 6);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
}

/// A transformer over pixels small enough to train a teacher for distillation in a test.
fn tiny_pixel_dit() -> ModelConfig {
    use designer_core::model::Architecture;
    use designer_core::model::dit::DiTShape;
    ModelConfig {
        base_channels: 16,
        architecture: Architecture::DiT(DiTShape {
            patch: 2,
            depth: 1,
            head_channels: 8,
            mlp_ratio: 2,
            autoencoder: None,
            layout: false,
            guidance: false,
            step_size: false,
        }),
        ..tiny_model()
    }
}

/// The flow run a distillation test's teacher trains with, and its students after.
fn teacher_run() -> TrainConfig {
    TrainConfig {
        steps: 40,
        batch_size: 8,
        learning_rate: 3e-3,
        warmup_steps: 2,
        ema_decay: None,
        ..TrainConfig::default()
    }
}

/// [`tiny_pixel_dit`] trained on `folder` for `steps` of [`teacher_run`].
fn trained_teacher(folder: &mut LabelledFolder, steps: u64) -> Weights {
    let run = TrainConfig {
        steps,
        ..teacher_run()
    };
    let mut teacher = Trainer::fresh(tiny_pixel_dit(), Device::flex(), run).unwrap();
    teacher.run(folder, &mut |_| {}).unwrap();
    Weights::from_bytes(&teacher.to_trained_weights(&tiny_provenance()).unwrap()).unwrap()
}

/// `n` conditions alternating between a rustic bedroom and a modern kitchen, the two labels
/// the distillation tests judge students on.
fn two_kinds_of_room(n: usize) -> Vec<Condition> {
    let rooms = [
        (RoomType::Bedroom, Style::Rustic),
        (RoomType::Kitchen, Style::Modern),
    ];
    (0..n)
        .map(|i| Condition::new(rooms[i % 2].0, rooms[i % 2].1))
        .collect()
}

/// A student of `teacher`'s weights trained by `distil` (a distillation) from `teacher`, as
/// it started and as it ended; the same run without the teacher is refused, by name.
fn distilled(
    teacher: &Weights,
    folder: &mut LabelledFolder,
    distil: TrainConfig,
) -> (designer_core::model::Generator, Weights) {
    use designer_train::train::TrainError;
    let mut alone = Trainer::from_weights(teacher, Device::flex(), distil.clone()).unwrap();
    let error = alone.run(folder, &mut |_| {}).unwrap_err();
    assert!(matches!(error, TrainError::Teacher(_)), "{error}");

    let mut student = Trainer::from_weights(teacher, Device::flex(), distil)
        .unwrap()
        .with_teacher(teacher)
        .unwrap();
    let start = student.trained_model();
    student.run(folder, &mut |_| {}).unwrap();
    let learnt =
        Weights::from_bytes(&student.to_trained_weights(&tiny_provenance()).unwrap()).unwrap();
    (start, learnt)
}

/// Guidance distillation: a student made from the teacher's weights gains guidance layers,
/// is refused without a teacher, and learns to give the teacher's guided velocity
/// v_u + w (v_c - v_u) in one evaluation told w, closer than the teacher's plain conditional
/// velocity (where it started) for a low and a high weight alike.
#[test]
fn a_student_learns_the_teachers_guided_velocity_in_one_evaluation() {
    use designer_core::model::Architecture;
    use designer_core::sampler::noise_batch;
    use designer_train::train::Objective;
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    let flow = teacher_run();
    let teacher = trained_teacher(&mut folder, 40);

    // Long enough to pass the first phase, where the student matches the average weight's
    // velocity whatever it is told (60 steps: further from w = 2 than it started).
    let distil = TrainConfig {
        steps: 200,
        objective: Objective::Guidance,
        ..flow
    };
    let (start, learnt) = distilled(&teacher, &mut folder, distil);
    assert!(start.reads(Scalar::Guidance));
    assert!(matches!(&learnt.header.model.architecture, Architecture::DiT(s) if s.guidance));

    let device = Device::flex();
    let (teacher, learnt) = (
        teacher.build(&device).unwrap(),
        learnt.build(&device).unwrap(),
    );
    let n = 6;
    let x = noise_batch(&(0..n as u64).collect::<Vec<_>>(), [3, 16, 16], &device);
    let t = Tensor::<1>::from_floats([0.2, 0.35, 0.5, 0.6, 0.75, 0.9], &device);
    let labels = two_kinds_of_room(n);
    let velocity = |model: &designer_core::model::Generator, conditions: &[Condition]| {
        model.forward(x.clone(), t.clone(), conditions)
    };
    let (conditional, unconditional) = (
        velocity(&teacher, &labels),
        velocity(&teacher, &vec![Condition::UNCONDITIONAL; n]),
    );
    let gap = |a: Tensor<4>, b: Tensor<4>| (a - b).powi_scalar(2).mean().into_scalar::<f32>();
    // The untrained student is (w - 1)² D from the guided velocity (D: the conditional-
    // unconditional gap). One velocity for both weights within D / 2 of w = 2's is, by the
    // triangle inequality, at least (3 - 0.71)² D = 5.3 D from w = 5's, a third of 16 D: the
    // bounds below take a student that reads the weight.
    for (w, bound) in [(2.0, 0.5), (5.0, 0.25)] {
        let guided = unconditional.clone() + (conditional.clone() - unconditional.clone()) * w;
        let told: Vec<Condition> = labels.iter().map(|c| c.guided(w)).collect();
        let (before, after) = (
            gap(velocity(&start, &told), guided.clone()),
            gap(velocity(&learnt, &told), guided),
        );
        assert!(
            after < bound * before,
            "at weight {w}: {before} from the guided velocity before, {after} after"
        );
    }
}

/// Step distillation: a student of the teacher's weights gains the step layers (and the
/// guidance ones), is refused without a teacher, and learns to jump a quarter of the path as
/// the teacher's guided sampler does in five steps: from the points the teacher's own
/// sampler passes, its one jump told the step lands closer to the teacher's five than the
/// teacher's one guided Euler jump does (where a 4-step request of the teacher lands).
#[test]
fn a_student_learns_to_jump_as_the_teachers_sampler_does_in_five_steps() {
    use designer_core::model::{Architecture, Generator};
    use designer_core::sampler::noise_batch;
    use designer_train::train::{Objective, TEACHER_SUBSTEPS};
    let dir = tempfile::tempdir().unwrap();
    write_folder(dir.path());
    let mut folder = LabelledFolder::open(dir.path(), 16).unwrap();
    // A teacher of 40 steps draws the mean image along a near-straight path, which one Euler
    // jump already follows (1.8e-4 from five); at 400 its paths bend (0.027), and the
    // student, which learns the guidance too, needs ~800 steps to halve that (300: 0.030).
    let teacher = trained_teacher(&mut folder, 400);
    let distil = TrainConfig {
        steps: 1000,
        objective: Objective::Steps,
        ..teacher_run()
    };
    let (_, learnt) = distilled(&teacher, &mut folder, distil);
    assert!(matches!(&learnt.header.model.architecture,
        Architecture::DiT(s) if s.step_size && s.guidance));

    let device = Device::flex();
    let (teacher, learnt) = (
        teacher.build(&device).unwrap(),
        learnt.build(&device).unwrap(),
    );
    let (n, w, d) = (6, 3.0, 0.25);
    let labels = two_kinds_of_room(n);
    let guided = |x: &Tensor<4>, t: f32| {
        let t = Tensor::<1>::full([n], t, &device);
        let c = teacher.forward(x.clone(), t.clone(), &labels);
        let u = teacher.forward(x.clone(), t, &vec![Condition::UNCONDITIONAL; n]);
        u.clone() + (c - u) * w
    };
    let teacher_jump = |x: &Tensor<4>, t: f32| {
        let h = d / TEACHER_SUBSTEPS as f32;
        (0..TEACHER_SUBSTEPS).fold(x.clone(), |x, k| {
            let v = guided(&x, t + k as f32 * h);
            x + v * h
        })
    };
    let student_jump = |model: &Generator, x: &Tensor<4>, t: f32| {
        let told: Vec<Condition> = labels
            .iter()
            .map(|c| c.guided(w).stepping(Some(d)))
            .collect();
        x.clone() + model.forward(x.clone(), Tensor::<1>::full([n], t, &device), &told) * d
    };
    let gap = |a: Tensor<4>, b: Tensor<4>| (a - b).powi_scalar(2).mean().into_scalar::<f32>();
    let mut x = noise_batch(&(0..n as u64).collect::<Vec<_>>(), [3, 16, 16], &device);
    let (mut euler, mut distilled) = (0.0, 0.0);
    for i in 0..4 {
        let t = i as f32 * d;
        let target = teacher_jump(&x, t);
        euler += gap(x.clone() + guided(&x, t) * d, target.clone());
        distilled += gap(student_jump(&learnt, &x, t), target.clone());
        x = target;
    }
    assert!(
        distilled < 0.75 * euler,
        "one jump is {distilled} from the teacher's five, its one Euler jump {euler}"
    );
}
