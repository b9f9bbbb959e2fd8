//! Request -> designs through the public API, on the CPU backend, with the embedded weights.

use burn::tensor::{Device, Tensor};
use designer_core::image::{decode_bounded, encode_png, from_base64, to_base64};
use designer_core::model::{Architecture, Condition, ModelConfig, Scalar};
use designer_core::request::{DEFAULT_SIZE, DesignError, DesignRequest};
use designer_core::weights::{Weights, WeightsError, WeightsHeader};
use designer_core::{Designer, RoomType, Style};

fn small_request(seed: u64) -> DesignRequest {
    DesignRequest {
        variations: 2,
        seed,
        steps: Some(4),
        size: 32,
        ..DesignRequest::new(RoomType::Bedroom, Style::Scandinavian)
    }
}

/// A network small enough to build and run in a blink.
fn tiny_config() -> ModelConfig {
    ModelConfig {
        base_channels: 8,
        cond_dim: 16,
        groups: 4,
        ..ModelConfig::default()
    }
}

/// Generator v2 at its smallest: over an f = 4 autoencoder's latents, or over pixels.
fn tiny_v2(latent: bool) -> ModelConfig {
    use designer_core::model::autoencoder::AutoencoderShape;
    use designer_core::model::unet::UNetShape;
    ModelConfig {
        architecture: Architecture::UNetV2(UNetShape {
            multipliers: vec![1, 2],
            blocks: 1,
            attention_from: 1,
            head_channels: 8,
            autoencoder: latent.then(|| AutoencoderShape {
                latent_channels: 4,
                channels: vec![8, 8, 16],
            }),
        }),
        ..tiny_config()
    }
}

/// Generator v2's transformer at its smallest: over an f = 4 autoencoder's latents (one token
/// per latent), or over pixels (one per 2 x 2 patch).
fn tiny_dit(latent: bool) -> ModelConfig {
    use designer_core::model::autoencoder::AutoencoderShape;
    use designer_core::model::dit::DiTShape;
    ModelConfig {
        base_channels: 16,
        architecture: Architecture::DiT(DiTShape {
            patch: if latent { 1 } else { 2 },
            depth: 2,
            head_channels: 8,
            mlp_ratio: 2,
            autoencoder: latent.then(|| AutoencoderShape {
                latent_channels: 4,
                channels: vec![8, 8, 16],
            }),
            layout: false,
            guidance: false,
            step_size: false,
        }),
        ..tiny_config()
    }
}

/// Every generator v2 network at its smallest.
fn tiny_v2_networks() -> [ModelConfig; 4] {
    [
        tiny_v2(false),
        tiny_v2(true),
        tiny_dit(false),
        tiny_dit(true),
    ]
}

fn tiny_header(model: ModelConfig) -> WeightsHeader {
    WeightsHeader {
        format: designer_core::weights::FORMAT_VERSION,
        name: "tiny".into(),
        model,
        image_size: 16,
        trained_on: "nothing".into(),
        training_steps: 0,
    }
}

/// A fresh model with every parameter moved off its initial value (v2 starts its last
/// layers at zero, which would hide a parameter that goes astray).
fn scrambled(config: &ModelConfig, seed: u64) -> designer_core::model::Generator {
    use burn::module::{Module, ModuleMapper, Param};
    struct Scramble(u64);
    impl ModuleMapper for Scramble {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            self.0 += 1;
            let k = self.0;
            param.map(|t| {
                let shape = t.dims();
                let count: usize = shape.iter().product();
                let values: Vec<f32> = (0..count)
                    .map(|i| (((i as u64 * 7919 + k * 104_729) % 1000) as f32 / 1000.0 - 0.5) * 0.4)
                    .collect();
                let device = t.device();
                t + Tensor::from_data(burn::tensor::TensorData::new(values, shape), &device)
            })
        }
    }
    config.init(&Device::flex()).map(&mut Scramble(seed))
}

fn pngs(designer: &Designer, request: &DesignRequest) -> Vec<Vec<u8>> {
    let response = designer.generate(request).unwrap();
    response
        .designs
        .iter()
        .map(|d| from_base64(&d.png_base64).unwrap())
        .collect()
}

#[test]
fn embedded_weights_load_and_report_their_version() {
    let weights = Weights::embedded_small().unwrap();
    assert!(weights.version().starts_with(&weights.header.name));
    assert_eq!(weights.version().rsplit('@').next().unwrap().len(), 12);
    let designer = Designer::small_cpu().unwrap();
    assert_eq!(designer.model_version(), weights.version());
    assert_eq!(designer.backend(), "cpu");
}

#[test]
fn a_model_older_than_a_label_serves_the_labels_it_knows_and_names_the_rest() {
    use designer_core::labels::Vocabulary;
    // The shipped files predate the wider vocabulary and record none: they know the first.
    let weights = Weights::embedded_small().unwrap();
    assert_eq!(weights.header.model.vocabulary, Vocabulary::first());
    let designer = Designer::small_cpu().unwrap();
    for (room, style, field, label) in [
        (
            RoomType::KidsRoom,
            Style::Modern,
            "room_type",
            "room type 'kids_room'",
        ),
        (
            RoomType::Bedroom,
            Style::Japandi,
            "style",
            "style 'japandi'",
        ),
    ] {
        let error = designer
            .generate(&DesignRequest::new(room, style))
            .unwrap_err();
        assert_eq!(error.status(), 400);
        let message = error.to_string();
        let expected = format!(
            "invalid {field}: the model {} was not trained on the {label}",
            designer.model_version()
        );
        assert!(message.contains(&expected), "{message}");
        assert!(message.contains("it knows: "), "{message}");
    }
    // Every label added since, the same way.
    let first = Vocabulary::first();
    let new_rooms = RoomType::ALL
        .iter()
        .filter(|r| !first.room_types.contains(r));
    let new_styles = Style::ALL.iter().filter(|s| !first.styles.contains(s));
    let requests: Vec<DesignRequest> = new_rooms
        .map(|r| DesignRequest::new(*r, Style::Modern))
        .chain(new_styles.map(|s| DesignRequest::new(RoomType::Bedroom, *s)))
        .collect();
    assert_eq!(requests.len(), 3 + 8);
    for request in &requests {
        let message = designer.generate(request).unwrap_err().to_string();
        assert!(message.contains("was not trained on the"), "{message}");
    }
    // Old labels keep their rows: the same designs as before the vocabulary grew.
    assert!(designer.generate(&small_request(3)).is_ok());
}

#[test]
fn requests_go_to_the_model_trained_at_the_largest_size_not_above_theirs() {
    use designer_core::weights::serving;
    let trained = [128, 64];
    let pick = |size| *serving(&trained, |s| *s, size).unwrap();
    assert_eq!(
        [pick(32), pick(64), pick(112), pick(128), pick(256)],
        [64, 64, 64, 128, 128]
    );
    assert!(serving(&[] as &[u32], |s| *s, 64).is_none());
    // Native builds with `large-model` (the CLI's, the Lambda's) embed the 128 px U-Net and
    // generator v2 beside the small model, and the default size goes to generator v2: a
    // step-distilled student that follows layouts.
    let names = |size| Weights::embedded_for(size).unwrap().header.name;
    assert_eq!(names(64), Weights::embedded_small().unwrap().header.name);
    if cfg!(feature = "large-model") {
        assert_eq!(names(128), "designer-scenes-128");
        assert_eq!(Weights::embedded_for(128).unwrap().header.image_size, 128);
        let default = Weights::embedded_default().unwrap();
        assert_eq!(default.header.image_size, DEFAULT_SIZE);
        let architecture = &default.header.model.architecture;
        assert!(architecture.reads(Scalar::StepSize), "{architecture:?}");
        assert!(architecture.layout_factor().is_some(), "{architecture:?}");
    }
}

#[test]
fn same_request_gives_byte_identical_pngs_and_seeds_differ() {
    let designer = Designer::small_cpu().unwrap();
    let request = small_request(7);
    let first = pngs(&designer, &request);
    assert_eq!(first, pngs(&designer, &request), "same seed, same bytes");
    assert_ne!(first[0], first[1], "variation 1 uses seed + 1");
    // Variation i is seed + i: the second design of seed 7 is the first of seed 8.
    let shifted = pngs(&designer, &small_request(8));
    assert_eq!(first[1], shifted[0]);
    // Guidance changes the result (so the labels reach the model).
    let unguided = pngs(
        &designer,
        &DesignRequest {
            guidance: 0.0,
            ..request.clone()
        },
    );
    assert_ne!(first, unguided);
}

#[test]
fn splitting_the_batch_over_threads_changes_no_pixel() {
    // The small pixel U-Net, and the default latent network, whose images each part's thread
    // decodes itself.
    let small = DesignRequest {
        variations: 3,
        ..small_request(11)
    };
    let default = DesignRequest {
        size: 256,
        steps: Some(1),
        ..small.clone()
    };
    for (weights, request) in [
        (Weights::embedded_small().unwrap(), small),
        (Weights::embedded_default().unwrap(), default),
    ] {
        let one = Designer::cpu(&weights).unwrap().with_threads(1);
        let expected = pngs(&one, &request);
        for threads in [2, 3, 8] {
            let split = Designer::cpu(&weights).unwrap().with_threads(threads);
            assert_eq!(
                pngs(&split, &request),
                expected,
                "{} on {threads} threads",
                weights.version()
            );
        }
    }
}

#[test]
fn response_holds_decodable_pngs_of_the_requested_size() {
    let designer = Designer::small_cpu().unwrap();
    let request = DesignRequest {
        size: 48,
        variations: 1,
        steps: Some(2),
        ..small_request(1)
    };
    let response = designer.generate(&request).unwrap();
    assert_eq!(response.designs.len(), 1);
    assert_eq!(response.designs[0].seed, 1);
    assert_eq!(
        (response.designs[0].width, response.designs[0].height),
        (48, 48)
    );
    let image = decode_bounded(&from_base64(&response.designs[0].png_base64).unwrap()).unwrap();
    assert_eq!(image.dimensions(), (48, 48));
    let json = serde_json::to_value(&response).unwrap();
    for key in ["designs", "model", "backend", "elapsed_ms"] {
        assert!(json.get(key).is_some(), "response lacks {key}");
    }
}

#[test]
fn invalid_requests_are_refused_before_any_work() {
    let designer = Designer::small_cpu().unwrap();
    let err = designer
        .generate(&DesignRequest {
            variations: 0,
            ..small_request(1)
        })
        .unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("variations"), "{err}");
    let bad_photo = DesignRequest {
        photo: Some("%%%".into()),
        ..small_request(1)
    };
    let err = designer.generate(&bad_photo).unwrap_err();
    assert!(err.to_string().contains("invalid photo"), "{err}");
}

#[test]
fn a_photo_at_strength_zero_comes_back_unchanged() {
    let designer = Designer::small_cpu().unwrap();
    let photo = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb([(x * 8) as u8, (y * 8) as u8, 128])
    });
    let request = DesignRequest {
        photo: Some(to_base64(&encode_png(&photo))),
        strength: 0.0,
        variations: 1,
        ..small_request(3)
    };
    let out = decode_bounded(&pngs(&designer, &request)[0]).unwrap();
    assert_eq!(out, photo);
    // At full strength the photo is ignored and the result differs.
    let restyled = decode_bounded(
        &pngs(
            &designer,
            &DesignRequest {
                strength: 0.9,
                ..request
            },
        )[0],
    )
    .unwrap();
    assert_ne!(restyled, photo);
}

#[test]
fn progress_counts_every_model_evaluation() {
    let designer = Designer::small_cpu().unwrap();
    let mut calls = Vec::new();
    designer
        .generate_with_progress(
            &DesignRequest {
                steps: Some(3),
                sampler: designer_core::sampler::SamplerKind::Heun,
                ..small_request(1)
            },
            &mut |done, total| calls.push((done, total)),
        )
        .unwrap();
    assert_eq!(calls, vec![(1, 6), (2, 6), (3, 6), (4, 6), (5, 6), (6, 6)]);
}

#[test]
fn weights_round_trip_and_corrupt_files_are_refused() {
    let device = Device::flex();
    let config = tiny_config();
    let model = config.init(&device);
    let x = Tensor::<4>::ones([1, 3, 16, 16], &device);
    let t = Tensor::<1>::from_floats([0.5], &device);
    let condition = [Condition::new(RoomType::Kitchen, Style::Rustic)];
    let before = model.forward(x.clone(), t.clone(), &condition).into_data();
    let header = WeightsHeader {
        format: designer_core::weights::FORMAT_VERSION,
        name: "test".into(),
        model: config,
        image_size: 16,
        trained_on: "nothing".into(),
        training_steps: 0,
    };
    let bytes = Weights::encode(model, &header).unwrap();
    let weights = Weights::from_bytes(&bytes).unwrap();
    assert_eq!(weights.header, header);
    let after = weights
        .build(&device)
        .unwrap()
        .forward(x, t, &condition)
        .into_data();
    assert_eq!(before, after);

    assert!(matches!(
        Weights::from_bytes(b"PK\x03\x04 not weights"),
        Err(WeightsError::BadMagic)
    ));
    assert!(matches!(
        Weights::from_bytes(&bytes[..10]),
        Err(WeightsError::Truncated)
    ));
    // The parameters' digest catches a cut or a flipped byte before anything is built.
    assert!(matches!(
        Weights::from_bytes(&bytes[..bytes.len() - 100]),
        Err(WeightsError::Corrupt)
    ));
    let mut flipped = bytes.clone();
    let middle = flipped.len() - 200;
    flipped[middle] ^= 0x40;
    let error = Weights::from_bytes(&flipped).unwrap_err();
    assert!(matches!(error, WeightsError::Corrupt), "{error}");
    assert!(error.to_string().contains("damaged"), "{error}");
    // A file written before the digest loads unchecked, and a cut one fails to build.
    let undigested = with_header(&bytes, &header);
    let truncated = Weights::from_bytes(&undigested[..undigested.len() - 100]).unwrap();
    assert!(matches!(
        truncated.build(&device),
        Err(WeightsError::Record(_))
    ));
    let other_shape = WeightsHeader {
        model: ModelConfig {
            base_channels: 16,
            ..header.model.clone()
        },
        ..header.clone()
    };
    // A header that claims a wider model than the file's parameters could fill is refused
    // before anything is built.
    let error = Weights::from_bytes(&with_header(&bytes, &other_shape)).unwrap_err();
    assert!(matches!(error, WeightsError::Shape(_)), "{error}");
    // Same parameter count, other shape: the record does not fit.
    let swapped = WeightsHeader {
        model: ModelConfig {
            groups: 8,
            ..header.model.clone()
        },
        ..header
    };
    assert!(
        Weights::from_bytes(&with_header(&bytes, &swapped))
            .unwrap()
            .build(&device)
            .is_ok(),
        "groups hold no parameters of their own"
    );
}

#[test]
fn a_widened_vocabulary_keeps_what_the_model_knew() {
    use designer_core::labels::Vocabulary;
    let device = Device::flex();
    let old = ModelConfig {
        vocabulary: Vocabulary::first(),
        ..tiny_config()
    };
    let model = old.init(&device);
    let x = Tensor::<4>::ones([1, 3, 8, 8], &device);
    let t = Tensor::<1>::from_floats([0.3], &device);
    let at = |model: &designer_core::model::Generator, condition| {
        model
            .forward(x.clone(), t.clone(), &[condition])
            .into_data()
    };
    let known = Condition::new(RoomType::Office, Style::Rustic);
    let (before, unconditional) = (at(&model, known), at(&model, Condition::UNCONDITIONAL));
    let widened = model.with_vocabulary(&Vocabulary::default());
    assert_eq!(at(&widened, known), before);
    assert_eq!(at(&widened, Condition::UNCONDITIONAL), unconditional);
    // A new label starts as "no label".
    let new_style = Condition {
        style: Some(Style::Japandi),
        ..known
    };
    let no_style = Condition {
        style: None,
        ..known
    };
    assert_eq!(at(&widened, new_style), at(&widened, no_style));
    let config = ModelConfig {
        vocabulary: Vocabulary::default(),
        ..old
    };
    use burn::module::Module;
    assert_eq!(widened.num_params(), config.parameter_count());
}

#[test]
fn the_same_parameters_give_the_same_bytes() {
    let device = Device::flex();
    let config = tiny_config();
    let header = WeightsHeader {
        format: designer_core::weights::FORMAT_VERSION,
        name: "test".into(),
        model: config.clone(),
        image_size: 16,
        trained_on: "nothing".into(),
        training_steps: 0,
    };
    // The same values in two freshly made models (the device's generator is shared by the
    // tests running beside this one, so seeding it would not make them equal): what is left
    // to differ is how the parameters are numbered.
    struct Fill;
    impl burn::module::ModuleMapper for Fill {
        fn map_float<const D: usize>(
            &mut self,
            param: burn::module::Param<Tensor<D>>,
        ) -> burn::module::Param<Tensor<D>> {
            param.map(|t| t.ones_like() * 0.25)
        }
    }
    let encode = || {
        use burn::module::Module;
        Weights::encode(config.init(&device).map(&mut Fill), &header).unwrap()
    };
    let (first, second) = (encode(), encode());
    assert!(
        first == second,
        "two identical models wrote different files"
    );
    let (a, b) = (
        Weights::from_bytes(&first).unwrap(),
        Weights::from_bytes(&second).unwrap(),
    );
    assert_eq!(a.version(), b.version());
    // A file's parameters keep their numbering through a load and a save.
    let again = Weights::encode(a.build(&device).unwrap(), &header).unwrap();
    assert!(again == first, "a loaded model saved different bytes");
}

/// `bytes` (a weights file) with its header replaced by `header`.
fn with_header(bytes: &[u8], header: &impl serde::Serialize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
    let new_header = serde_json::to_vec(header).unwrap();
    out.splice(12..12 + header_len, new_header.iter().copied());
    out.splice(8..12, (new_header.len() as u32).to_le_bytes());
    out
}

#[test]
fn impossible_model_shapes_in_a_weights_header_are_refused_before_allocating() {
    let embedded = Weights::embedded_small().unwrap();
    let bytes = designer_core::weights::SMALL_WEIGHTS;
    let shaped = |base_channels, cond_dim, groups| WeightsHeader {
        model: ModelConfig {
            base_channels,
            cond_dim,
            groups,
            ..embedded.header.model.clone()
        },
        ..embedded.header.clone()
    };
    for (header, needle) in [
        (shaped(32, 128, 0), "groups must divide"),
        (shaped(32, 128, 7), "groups must divide"),
        (shaped(7, 128, 8), "groups must divide"),
        (shaped(0, 128, 8), "base_channels must be from 1"),
        (shaped(1_000_000, 128, 8), "base_channels must be from 1"),
        (shaped(32, 0, 8), "cond_dim must be"),
        (shaped(64, 128, 8), "parameters"),
    ] {
        let error = Weights::from_bytes(&with_header(bytes, &header)).unwrap_err();
        assert!(matches!(error, WeightsError::Shape(_)), "{error}");
        assert!(error.to_string().contains(needle), "{error}");
    }
}

#[test]
fn the_parameter_count_is_what_init_makes() {
    use burn::module::Module;
    for config in [
        ModelConfig::default(),
        ModelConfig {
            vocabulary: designer_core::labels::Vocabulary::first(),
            ..ModelConfig::default()
        },
        tiny_config(),
        ModelConfig::preset("unet-v2-pixels").unwrap(),
        ModelConfig::preset("unet-v2-latent").unwrap(),
        ModelConfig::preset("dit-latent").unwrap(),
    ]
    .into_iter()
    .chain(tiny_v2_networks())
    {
        config.validate().unwrap();
        let model = config.init(&Device::flex());
        assert_eq!(config.parameter_count(), model.num_params(), "{config:?}");
    }
}

#[test]
fn generator_v2_round_trips_and_serves_over_latents_and_pixels() {
    let device = Device::flex();
    for config in tiny_v2_networks() {
        let latent = config.architecture.autoencoder().is_some();
        let model = scrambled(&config, 3);
        let x = Tensor::<4>::ones([2, 3, 16, 16], &device);
        let space = model.to_sample_space(x.clone());
        let [_, channels, side, _] = space.dims();
        assert_eq!(
            [channels, side, side],
            config.sample_shape(16),
            "latent {latent}"
        );
        let t = Tensor::<1>::from_floats([0.5, 0.1], &device);
        let conditions = [
            Condition::new(RoomType::Kitchen, Style::Rustic),
            Condition::UNCONDITIONAL,
        ];
        let before = model.forward(space.clone(), t.clone(), &conditions);
        let image = model.to_image(before.clone());
        assert_eq!(image.dims(), [2, 3, 16, 16]);
        let bytes = Weights::encode(model, &tiny_header(config.clone())).unwrap();
        let weights = Weights::from_bytes(&bytes).unwrap();
        let rebuilt = weights.build(&device).unwrap();
        assert_eq!(
            before.into_data(),
            rebuilt.forward(space, t, &conditions).into_data()
        );
        assert_eq!(
            image.into_data(),
            rebuilt
                .to_image(rebuilt.forward(
                    rebuilt.to_sample_space(x),
                    Tensor::<1>::from_floats([0.5, 0.1], &device),
                    &conditions
                ))
                .into_data()
        );

        let designer = Designer::cpu(&weights).unwrap();
        let request = small_request(9);
        let images = pngs(&designer, &request);
        assert_eq!(images.len(), request.variations as usize);
        for png in &images {
            let image = decode_bounded(png).unwrap();
            assert_eq!(image.dimensions(), (request.size, request.size));
        }
        assert_eq!(images, pngs(&designer, &request), "same seed, same bytes");
    }
}

/// What generator v2 is for: the velocity at one corner depends on what is at the other, so
/// the network can compose a room instead of tiling texture.
#[test]
fn generator_v2_sees_the_whole_picture() {
    let device = Device::flex();
    for config in tiny_v2_networks() {
        let model = scrambled(&config, 5);
        let [c, side, _] = config.sample_shape(32);
        let x = Tensor::<4>::zeros([1, c, side, side], &device);
        let mut corner = vec![0f32; c * side * side];
        corner[0] = 3.0;
        let moved = Tensor::<4>::from_data(
            burn::tensor::TensorData::new(corner, [1, c, side, side]),
            &device,
        );
        let velocity = |x: Tensor<4>| {
            let v = model.forward(
                x,
                Tensor::<1>::from_floats([0.5], &device),
                &[Condition::UNCONDITIONAL],
            );
            let far = v.narrow(2, side - 1, 1).narrow(3, side - 1, 1);
            far.into_data().try_into_vec::<f32>().unwrap()
        };
        let (still, changed) = (velocity(x), velocity(moved));
        // Where nothing carries the corner to the far pixel, the two velocities there are the
        // same computation, bit for bit (0). How far above rounding a path lifts it depends on
        // the random initial weights under the scrambling, which tests running beside this
        // one draw from too: 7e-5 has been seen, so the bound is rounding's, not 1e-4.
        let difference: f32 = still.iter().zip(&changed).map(|(a, b)| (a - b).abs()).sum();
        assert!(difference > 1e-6, "{:?}: {difference}", config.architecture);
    }
}

#[test]
fn a_size_the_network_cannot_halve_is_refused_with_the_multiple() {
    let mut config = tiny_v2(true);
    if let designer_core::model::Architecture::UNetV2(shape) = &mut config.architecture {
        shape.multipliers = vec![1, 2, 2];
        shape.autoencoder.as_mut().unwrap().channels = vec![8, 8, 8, 16];
    }
    // Three halvings in the autoencoder, two in the denoiser: sizes must be multiples of 32
    // (the request's own rule is multiples of 16).
    assert_eq!(config.size_multiple(), 32);
    let bytes = Weights::encode(scrambled(&config, 1), &tiny_header(config)).unwrap();
    let designer = Designer::cpu(&Weights::from_bytes(&bytes).unwrap()).unwrap();
    let request = DesignRequest {
        size: 48,
        ..small_request(1)
    };
    let error = designer.generate(&request).unwrap_err().to_string();
    assert!(error.contains("multiples of 32, got 48"), "{error}");
    assert!(
        designer
            .generate(&DesignRequest {
                size: 64,
                ..small_request(1)
            })
            .is_ok()
    );
}

#[test]
fn f16_and_int8_weights_are_smaller_and_draw_nearly_the_same() {
    use designer_core::weights::Precision;
    // Freshly initialised f32 parameters, which neither can hold exactly.
    let header = Weights::embedded_small().unwrap().header;
    let model = header.model.init(&Device::flex());
    let encode = |model, precision| {
        let bytes = Weights::encode_as(model, &header, precision).unwrap();
        (bytes.len(), Weights::from_bytes(&bytes).unwrap())
    };
    let request = DesignRequest {
        variations: 1,
        ..small_request(5)
    };
    let draw = |weights: &Weights| {
        decode_bounded(&pngs(&Designer::cpu(weights).unwrap(), &request)[0]).unwrap()
    };
    let (full_size, full) = encode(model.clone(), Precision::F32);
    let full_design = draw(&full);
    // int8 keeps the convolutions' and linear layers' weights in a byte each (their scales
    // and the f16 biases and norms come on top).
    for (precision, share_of_f32, most_mean) in [
        (Precision::F16, 0.6, 3.0),
        (Precision::Int8, 0.3, 3.0),
        (Precision::Int7, 0.3, 3.0),
    ] {
        let (size, reduced) = encode(model.clone(), precision);
        assert!(
            (size as f64) < share_of_f32 * full_size as f64,
            "{precision:?}: {size} vs {full_size} bytes"
        );
        assert_ne!(
            reduced.version(),
            full.version(),
            "the version follows the bytes"
        );
        let design = draw(&reduced);
        assert_ne!(full_design, design, "{precision:?} really rounds");
        let diffs: Vec<i32> = full_design
            .as_raw()
            .iter()
            .zip(design.as_raw())
            .map(|(a, b)| (*a as i32 - *b as i32).abs())
            .collect();
        let mean = diffs.iter().sum::<i32>() as f64 / diffs.len() as f64;
        assert!(
            mean < most_mean,
            "{precision:?}: mean pixel difference {mean}"
        );
        eprintln!("{precision:?}: {size} of {full_size} bytes, mean pixel difference {mean:.3}");
    }
}

/// Photo restyling's network: a transformer that reads an edge map learns it through a layer
/// of its own, which a trained network gains without changing what it draws.
#[test]
fn a_transformer_gains_a_layout_without_changing_what_it_draws_and_then_follows_one() {
    use burn::tensor::TensorData;
    let device = Device::flex();
    let mut config = tiny_dit(true);
    let old = scrambled(&config, 7);
    assert!(!old.reads_layout());
    let [c, side, _] = config.sample_shape(16);
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..2 * c * side * side)
                .map(|i| ((i % 7) as f32 - 3.0) * 0.3)
                .collect(),
            [2, c, side, side],
        ),
        &device,
    );
    let t = || Tensor::<1>::from_floats([0.5, 0.2], &device);
    let conditions = [
        Condition::new(RoomType::Office, Style::Japandi),
        Condition::UNCONDITIONAL,
    ];
    // An edge map as the network takes it: a latent grid of 0s and 1s.
    let factor = 4;
    let edges: Vec<f32> = (0..2 * factor * factor * side * side)
        .map(|i| ((i * 31 % 11) < 3) as u8 as f32)
        .collect();
    let layout = || {
        Tensor::<4>::from_data(
            TensorData::new(edges.clone(), [2, factor * factor, side, side]),
            &device,
        )
    };
    let before = old.forward(x.clone(), t(), &conditions).into_data();

    let gained = old.with_layout(&mut config).unwrap();
    assert!(gained.reads_layout());
    assert_eq!(
        config.parameter_count(),
        burn::module::Module::num_params(&gained)
    );
    let with_layout = gained.forward_with_layout(x.clone(), t(), &conditions, Some(layout()));
    assert_eq!(
        with_layout.into_data(),
        before,
        "the new layer starts at zero"
    );

    // Once trained (here: every parameter scrambled), the map steers the velocity, an empty
    // map is the same as none, and the layer is saved with the rest.
    let trained = scrambled(&config, 7);
    let plain = trained.forward(x.clone(), t(), &conditions).into_data();
    let empty = Tensor::<4>::zeros([2, factor * factor, side, side], &device);
    assert_eq!(
        trained
            .forward_with_layout(x.clone(), t(), &conditions, Some(empty))
            .into_data(),
        plain
    );
    let steered = trained
        .forward_with_layout(x.clone(), t(), &conditions, Some(layout()))
        .into_data();
    let moved: f32 = steered
        .try_to_vec::<f32>()
        .unwrap()
        .iter()
        .zip(plain.try_to_vec::<f32>().unwrap())
        .map(|(a, b)| (a - b).abs())
        .sum();
    assert!(moved > 1e-3, "the layout changed the velocity by {moved}");
    let bytes = Weights::encode(trained, &tiny_header(config.clone())).unwrap();
    let rebuilt = Weights::from_bytes(&bytes).unwrap().build(&device).unwrap();
    assert!(rebuilt.reads_layout());
    assert_eq!(
        rebuilt
            .forward_with_layout(x, t(), &conditions, Some(layout()))
            .into_data(),
        steered
    );
    // A network without the layer says nothing of it in its file's header (files written
    // before it existed read the same).
    let header = serde_json::to_string(&tiny_dit(true)).unwrap();
    assert!(!header.contains("layout"), "{header}");
    assert!(
        serde_json::to_string(&config)
            .unwrap()
            .contains("\"layout\":true")
    );
    // Only the transformer can gain one.
    assert!(
        scrambled(&tiny_v2(true), 1)
            .with_layout(&mut tiny_v2(true))
            .is_err()
    );
}

/// `photo` as a base64 PNG.
fn png_base64(photo: &image::RgbImage) -> String {
    to_base64(&encode_png(photo))
}

/// A room of `width` x `height` as a photo: a wall and a dark window, both `shade` levels
/// darker (the same steps of brightness, so the same edges, in other colours); past 40 the
/// window's levels wrap round to bright ones, the edges in the same places.
fn room_photo(width: u32, height: u32, shade: u8) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, y| {
        let window = (12..24).contains(&x) && (8..20).contains(&y);
        let [r, g, b] = if window {
            [40, 40, 50]
        } else {
            [200, 180, 160]
        };
        image::Rgb([r, g, b].map(|c: u8| c.wrapping_sub(shade)))
    })
}

#[test]
fn a_restyled_photo_keeps_its_layout_and_not_its_colours_unless_asked() {
    use designer_core::request::Keep;
    let mut config = tiny_dit(true);
    let Architecture::DiT(shape) = &mut config.architecture else {
        unreachable!("a transformer")
    };
    shape.layout = true;
    let bytes = Weights::encode(scrambled(&config, 3), &tiny_header(config.clone())).unwrap();
    let designer = Designer::cpu(&Weights::from_bytes(&bytes).unwrap()).unwrap();
    let request = |shade: u8, keep: Option<Keep>| DesignRequest {
        photo: Some(png_base64(&room_photo(48, 32, shade))),
        keep,
        ..small_request(5)
    };

    // Unasked, a network that follows layouts keeps the photo's; the response says so.
    let response = designer.generate(&request(0, None)).unwrap();
    let used = response
        .photo
        .expect("a photo's response says how it was used");
    assert_eq!(used.keep, Keep::Layout);
    assert_eq!((used.width, used.height), (48, 32));
    assert_eq!(used.fit, "centre-cropped");

    let edges = |shade| {
        let pixels = designer_core::image::rgb_to_tensor(&room_photo(48, 32, shade));
        designer_core::layout::edge_map(&pixels, 48, 32)
    };
    // A darker photo of the same room whose edge map comes out the same: with steps of one
    // height the maps differ at most where rounding breaks a tie at a corner.
    let darker = (10..60)
        .find(|&shade| edges(shade) == edges(0))
        .expect("a darker photo with the same edge map");
    let layout = pngs(&designer, &request(0, None));
    assert_eq!(
        layout,
        pngs(&designer, &request(darker, Some(Keep::Layout))),
        "the layout alone keeps nothing of the photo's colours"
    );
    assert_ne!(
        layout,
        pngs(&designer, &small_request(5)),
        "the photo's layout changes the designs"
    );
    let colours = |shade| pngs(&designer, &request(shade, Some(Keep::Colours)));
    assert_ne!(
        colours(0),
        colours(darker),
        "its colours are kept when asked"
    );
    assert_ne!(
        pngs(&designer, &request(0, Some(Keep::Both))),
        colours(0),
        "both: the layout followed from the noised photo"
    );
    let plain = designer.generate(&small_request(5)).unwrap();
    assert!(plain.photo.is_none());

    // The restyle sheet: per photo, the photo, its edge map, its designs; 2 px gaps.
    let photo = room_photo(32, 32, 0);
    let sheet = designer_core::sheet::restyles(
        &designer,
        &[(photo.clone(), RoomType::Office)],
        &[Style::Rustic, Style::Coastal],
        &DesignRequest {
            keep: Some(Keep::Layout),
            ..small_request(5)
        },
        5,
        &mut designer_core::progress::Silent,
    )
    .unwrap();
    assert_eq!(sheet.dimensions(), (4 * 34 + 2, 34 + 2));
    let cell =
        |column: u32| image::imageops::crop_imm(&sheet, 2 + column * 34, 2, 32, 32).to_image();
    assert_eq!(cell(0), photo);
    let map = designer_core::layout::edge_map(&designer_core::image::rgb_to_tensor(&photo), 32, 32);
    assert!(
        cell(1)
            .pixels()
            .zip(&map)
            .all(|(pixel, edge)| pixel.0 == [(*edge * 255.0) as u8; 3])
    );
    let rustic = DesignRequest {
        room_type: RoomType::Office,
        style: Style::Rustic,
        variations: 1,
        seed: 5,
        photo: Some(png_base64(&photo)),
        keep: Some(Keep::Layout),
        ..small_request(5)
    };
    assert_eq!(cell(2), designer.generate_images(&rustic).unwrap()[0]);
}

#[test]
fn photos_that_cannot_be_restyled_are_refused_with_the_reason() {
    use designer_core::request::Keep;
    let designer = Designer::small_cpu().unwrap();
    let refusal = |photo: String, keep: Option<Keep>| match designer.generate(&DesignRequest {
        photo: Some(photo),
        keep,
        ..small_request(1)
    }) {
        Err(DesignError::Invalid { field, message }) => format!("{field}: {message}"),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let room = encode_png(&room_photo(48, 32, 0));
    let cases = [
        (
            png_base64(&room_photo(31, 40, 0)),
            None,
            "photo: must be at least 32 x 32 pixels, got 31 x 40",
        ),
        (
            to_base64(b"GIF89a\x01\x00\x01\x00 not a photo"),
            None,
            "photo: not a PNG or JPEG image",
        ),
        (
            png_base64(&image::RgbImage::new(5000, 40)),
            None,
            "photo: too large to decode: at most 4096 x 4096 pixels",
        ),
        (
            to_base64(&room[..room.len() / 2]),
            None,
            "photo: corrupt PNG",
        ),
        (
            to_base64(&room),
            Some(Keep::Layout),
            "keep: the model designer-scenes",
        ),
    ];
    for (photo, keep, expected) in cases {
        let message = refusal(photo, keep);
        assert!(message.starts_with(expected), "{message}");
    }
    // The embedded model does not follow layouts: unasked, it keeps the colours.
    let used = designer
        .generate(&DesignRequest {
            photo: Some(to_base64(&room)),
            ..small_request(1)
        })
        .unwrap()
        .photo
        .unwrap();
    assert_eq!(used.keep, Keep::Colours);
}

/// A phone's portrait photo is stored sideways with an EXIF orientation: it is turned upright
/// before it is cropped.
#[test]
fn a_photo_is_turned_as_its_exif_orientation_says() {
    use image::ImageEncoder;
    // A little-endian TIFF header and one IFD entry: orientation (0x0112), SHORT, 1 value,
    // 6 = turn 90 degrees clockwise.
    let mut exif = b"II*\0\x08\0\0\0\x01\0".to_vec();
    exif.extend([0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0]);
    exif.extend([0, 0, 0, 0]);
    let sideways = room_photo(64, 48, 0);
    let mut jpeg = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90);
    encoder.set_exif_metadata(exif).unwrap();
    encoder
        .write_image(sideways.as_raw(), 64, 48, image::ExtendedColorType::Rgb8)
        .unwrap();
    let upright = decode_bounded(&jpeg).unwrap();
    assert_eq!(upright.dimensions(), (48, 64));
    let used = Designer::small_cpu()
        .unwrap()
        .generate(&DesignRequest {
            photo: Some(to_base64(&jpeg)),
            ..small_request(1)
        })
        .unwrap()
        .photo
        .unwrap();
    assert_eq!(
        (used.width, used.height, used.fit.as_str()),
        (48, 64, "centre-cropped")
    );
}

/// `Designer::autoencode` (what `designer eval` measures the latents' PSNR with) round-trips
/// pictures through the autoencoder of either latent network, and has nothing for pixels.
#[test]
fn the_autoencoder_round_trip_is_there_for_every_latent_network() {
    let pictures: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| ((i % 13) as f32 / 6.0) - 1.0)
        .collect();
    for (config, latent) in [
        (tiny_dit(true), true),
        (tiny_v2(true), true),
        (tiny_v2(false), false),
    ] {
        let bytes = Weights::encode(scrambled(&config, 1), &tiny_header(config.clone())).unwrap();
        let designer = Designer::cpu(&Weights::from_bytes(&bytes).unwrap()).unwrap();
        let back = designer.autoencode(&pictures, 2, 32);
        assert_eq!(back.is_some(), latent, "{:?}", config.architecture);
        if let Some(back) = back {
            assert_eq!(back.len(), pictures.len());
        }
    }
    assert!(
        Designer::small_cpu()
            .unwrap()
            .autoencode(&pictures, 2, 32)
            .is_none()
    );
}

/// A step-distilled network says so in `info`, takes 4 steps unless the request says
/// (20 with the teacher's sampler), and is told the step: its teacher's sampler, which does
/// not tell it, draws otherwise at the same steps.
#[test]
fn a_step_distilled_model_defaults_to_its_few_steps_and_keeps_the_teacher_reachable() {
    use designer_core::sampler::SamplerKind;
    let mut config = tiny_dit(false);
    if let Architecture::DiT(shape) = &mut config.architecture {
        shape.guidance = true;
        shape.step_size = true;
    }
    let bytes = Weights::encode(scrambled(&config, 4), &tiny_header(config)).unwrap();
    let designer =
        Designer::new(&Weights::from_bytes(&bytes).unwrap(), Device::flex(), "cpu").unwrap();
    assert_eq!(
        designer.describe()["distilled_steps"],
        serde_json::json!([8, 4])
    );

    let default = DesignRequest {
        steps: None,
        ..small_request(2)
    };
    let teacher = DesignRequest {
        sampler: SamplerKind::Teacher,
        ..default.clone()
    };
    assert_eq!(designer.steps(&default), 8);
    assert_eq!(designer.steps(&teacher), 20);
    assert_eq!(
        designer.steps(&small_request(2)),
        4,
        "a request's own steps"
    );
    assert_eq!(
        designer.steps(&DesignRequest {
            steps: Some(6),
            ..teacher.clone()
        }),
        6
    );
    let distilled = pngs(&designer, &default);
    let eight = DesignRequest {
        steps: Some(8),
        ..small_request(2)
    };
    assert_eq!(distilled, pngs(&designer, &eight));
    // As many steps, but through the teacher's sampler: the student is not told the step.
    let told_nothing = DesignRequest {
        steps: Some(8),
        ..teacher
    };
    assert_ne!(distilled, pngs(&designer, &told_nothing));

    // A network without the step layers is never told a step: the teacher's sampler is Euler.
    let plain = Designer::small_cpu().unwrap();
    assert_eq!(plain.steps(&default), 20);
    let euler = small_request(5);
    let teacher = DesignRequest {
        sampler: SamplerKind::Teacher,
        ..euler.clone()
    };
    assert_eq!(pngs(&plain, &euler), pngs(&plain, &teacher));
}

/// A latent model asked for more than its trained size draws it at that size, then redraws it
/// at its own: the size asked, one progress count over both stages, a first stage that is the
/// trained size's design, and tensors refused (they describe one stage).
#[test]
fn past_its_trained_size_a_latent_model_draws_in_two_stages() {
    let config = tiny_dit(true);
    let bytes = Weights::encode(scrambled(&config, 6), &tiny_header(config)).unwrap();
    let designer =
        Designer::new(&Weights::from_bytes(&bytes).unwrap(), Device::flex(), "cpu").unwrap();
    assert_eq!(designer.trained_size(), 16);
    let request = DesignRequest {
        size: 32,
        steps: Some(5),
        guidance: 1.0,
        ..small_request(3)
    };
    let mut calls = Vec::new();
    let response = designer
        .generate_with_progress(&request, &mut |done, total| calls.push((done, total)))
        .unwrap();
    // Five steps at 16 px, then ceil(5 x 0.3) = 2 over the last 0.3 of the path at 32.
    let expected: Vec<(u32, u32)> = (1..=7).map(|done| (done, 7)).collect();
    assert_eq!(calls, expected);
    for design in &response.designs {
        let image = decode_bounded(&from_base64(&design.png_base64).unwrap()).unwrap();
        assert_eq!((image.width(), image.height()), (32, 32));
    }
    let Err(error) = designer.sample_tensors(&request) else {
        panic!("tensors written for a two-stage design");
    };
    assert!(error.to_string().contains("trained size 16"), "{error}");
}

/// The shipped model at 512 px: the composition of its 256 px design, with detail the
/// 256 px design upscaled does not have.
#[test]
fn the_default_model_at_512_keeps_its_256_design_and_adds_detail() {
    if !cfg!(feature = "large-model") {
        return;
    }
    let designer = Designer::cpu(&Weights::embedded_default().unwrap()).unwrap();
    let request = DesignRequest {
        variations: 1,
        ..DesignRequest::new(RoomType::LivingRoom, Style::Industrial)
    };
    let design = |size: u32| {
        let response = designer
            .generate(&DesignRequest {
                size,
                ..request.clone()
            })
            .unwrap();
        decode_bounded(&from_base64(&response.designs[0].png_base64).unwrap()).unwrap()
    };
    let (small, large) = (design(256), design(512));
    assert_eq!(large.dimensions(), (512, 512));
    let resize = |image: &image::RgbImage, side: u32| {
        image::imageops::resize(image, side, side, image::imageops::FilterType::Triangle)
    };
    let mean_difference = |a: &image::RgbImage, b: &image::RgbImage| {
        a.as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / a.as_raw().len() as f64
    };
    // Its own design at half the size: within a few levels on average (a different room
    // would be tens of levels off).
    let kept = mean_difference(&resize(&large, 256), &small);
    assert!(
        kept < 8.0,
        "512 px design {kept} levels from its 256 px one"
    );
    // Detail: the energy of the differences between neighbouring pixels, against the 256 px
    // design upscaled (1.6x for this request when written; an upscale alone is 1x).
    let detail = |image: &image::RgbImage| {
        let raw = image.as_raw();
        let row = image.width() as usize * 3;
        raw.iter()
            .zip(&raw[3..])
            .enumerate()
            .filter(|(i, _)| i % row < row - 3)
            .map(|(_, (&a, &b))| (a as f64 - b as f64).powi(2))
            .sum::<f64>()
            / raw.len() as f64
    };
    let (refined, upscaled) = (detail(&large), detail(&resize(&small, 512)));
    assert!(
        refined > 1.3 * upscaled,
        "neighbour energy {refined} against the upscale's {upscaled}"
    );
}
