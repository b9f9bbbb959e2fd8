//! `designer`: generate designs, build training data and train the generator from the shell.

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, FloatDType};
use clap::{Args, Parser, Subcommand, ValueEnum};
use designer_core::catalog;
use designer_core::checkpoint::Checkpoint;
use designer_core::config::TrainSettings;
use designer_core::dataset::{ExampleSource, LabelledFolder, LabelledFolderWriter};
use designer_core::download::{DownloadConfig, UrlSource};
use designer_core::image::from_base64;
use designer_core::interop::{self, NamedTensor};
use designer_core::model::ModelConfig;
use designer_core::precision::TrainingPrecision;
use designer_core::request::{DesignRequest, SamplerKind};
use designer_core::scene::SceneEngine;
use designer_core::scene::source::SceneSource;
use designer_core::train::{Provenance, TrainConfig, Trainer};
use designer_core::weights::{Precision, Weights};
use designer_core::{Designer, RoomType, Style};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "designer",
    version,
    about = "AI interior designer: room designs from a room type and a style"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate design variations as PNG files.
    Generate(GenerateArgs),
    /// Train the generator on labelled images or on scenes rendered from the furniture catalog.
    Train(TrainArgs),
    /// Render furnished rooms from the furniture catalog: a labelled dataset or a contact sheet.
    Scenes(ScenesArgs),
    /// Write a contact sheet of generated designs: room types (rows) by styles (columns).
    Sheet(SheetArgs),
    /// Measure the model: a classifier trained on held-out renders judges generated designs.
    Eval(EvalArgs),
    /// Print the model version, labels and limits as JSON.
    Info(WeightsArg),
    /// Rewrite weights for shipping (f16 halves the size); the version hash changes with them.
    Export(ExportArgs),
}

#[derive(Args)]
struct ExportArgs {
    /// Weights to export (default: the embedded ones).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PrecisionArg::F16)]
    precision: PrecisionArg,
    #[arg(long, value_enum, default_value_t = ExportFormat::Designer)]
    format: ExportFormat,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum ExportFormat {
    /// The weights file the CLI, the browser and the Lambda load.
    Designer,
    /// safetensors with PyTorch's parameter names and layouts (bench/'s PyTorch reference).
    Safetensors,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
}

#[derive(Args)]
struct WeightsArg {
    /// Weights file to use instead of the embedded models (the default, and the 128 px one
    /// for sizes of 128 and more).
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// The CPU: generation on the core's hand-written pass, training on burn's flex backend.
    Cpu,
    /// Vulkan GPU (builds with the `gpu` feature).
    Vulkan,
}

impl Backend {
    fn device(self) -> Result<Device> {
        match self {
            Backend::Cpu => Ok(Device::flex()),
            #[cfg(feature = "gpu")]
            Backend::Vulkan => Ok(Device::vulkan(Default::default())),
            #[cfg(not(feature = "gpu"))]
            Backend::Vulkan => {
                bail!("this build has no GPU support; rebuild with `--features gpu`")
            }
        }
    }

    fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Vulkan => "vulkan",
        }
    }
}

#[derive(Args)]
struct GenerateArgs {
    #[arg(long, default_value = "bedroom", value_parser = parse_label::<RoomType>)]
    room_type: RoomType,
    #[arg(long, default_value = "scandinavian", value_parser = parse_label::<Style>)]
    style: Style,
    #[arg(long, default_value_t = 4)]
    variations: u32,
    /// Variation i uses seed + i.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[arg(long, value_enum, default_value_t = SamplerArg::Euler)]
    sampler: SamplerArg,
    /// A photo (PNG or JPEG) of a room to restyle.
    #[arg(long)]
    photo: Option<PathBuf>,
    /// How far the photo may change, 0 to 1.
    #[arg(long, default_value_t = 0.6)]
    strength: f32,
    /// A JSON request file (`-` for stdin) instead of the flags above.
    #[arg(long)]
    request: Option<PathBuf>,
    #[arg(long, default_value = "designs")]
    out: PathBuf,
    /// Print the JSON response (with base64 PNGs) on stdout.
    #[arg(long)]
    json: bool,
    /// Also write the starting tensor and the sampled images as floats (safetensors `start`
    /// and `images`, the request under metadata) to this file, for checking other
    /// implementations of the network against ours (samples the request a second time).
    #[arg(long)]
    tensors: Option<PathBuf>,
    /// CPU threads to split the variations over (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// Generate the request this many times in one process, printing each run's time (a
    /// GPU's first run includes compiling its kernels); the last run's designs are written.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,
    #[command(flatten)]
    weights: WeightsArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum SamplerArg {
    Euler,
    Heun,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").args(["data", "catalog", "manifest"])))]
struct SourceArgs {
    /// A folder of images with a labels.jsonl.
    #[arg(long)]
    data: Option<PathBuf>,
    /// A folder holding the Sweet Home 3D catalogs (`.sh3f`, `sweethome3d.jar`); furnished
    /// rooms are rendered from it on the fly.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// A JSONL manifest of {"url", "room_type", "style"} lines; images are downloaded (at most
    /// MAX_IMAGE_SIZE bytes each) and bad ones skipped and counted.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 8)]
    downloads: usize,
    /// Follow redirects to loopback, private and link-local addresses.
    #[arg(long)]
    allow_private_redirects: bool,
}

#[derive(Args)]
#[command(after_help = train_env_help())]
struct TrainArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Overrides EPOCHS.
    #[arg(long)]
    epochs: Option<u64>,
    /// Overrides STEPS_PER_EPOCH.
    #[arg(long)]
    steps_per_epoch: Option<u64>,
    /// Overrides BATCH_SIZE.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Overrides LEARNING_RATE.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Overrides IMAGE_SIZE.
    #[arg(long)]
    size: Option<u32>,
    /// Overrides CHECKPOINT_DIR.
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Continue from the checkpoint in the checkpoint folder, if there is one.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many seconds even if steps remain; the checkpoint and weights are
    /// still written.
    #[arg(long)]
    time_limit: Option<u64>,
    /// Start from these weights (with a fresh optimizer) instead of a fresh model; with
    /// --resume, only when there is no checkpoint yet (a chained run's first chunk).
    #[arg(long)]
    init: Option<PathBuf>,
    /// Channels at full resolution (fresh models only).
    #[arg(long, default_value_t = ModelConfig::default().base_channels)]
    base_channels: usize,
    #[arg(long, default_value = "designer")]
    name: String,
    /// The weights: the moving average of the parameters (see --ema).
    #[arg(long, default_value = "model.weights")]
    out: PathBuf,
    /// Also write the last step's parameters here (to compare them with the average).
    #[arg(long)]
    out_trained: Option<PathBuf>,
    /// Decay of the moving average of the parameters that --out gets (ramped up over the
    /// first steps); 0 writes the last step's parameters instead.
    #[arg(long, default_value_t = TrainConfig::default().ema_decay.unwrap_or(0.0), value_parser = parse_decay)]
    ema: f64,
    /// Append one JSON line per loss reading to this file.
    #[arg(long)]
    metrics: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
    /// Float type of the training step on the device. `mixed` computes the convolutions and
    /// linear layers in f16 (tensor cores on a GPU) from f32 parameters, with GroupNorm, the
    /// loss and the optimizer in f32 and the loss scaled. `f16` and `bf16` put everything,
    /// parameters and optimizer state included, in that type: small updates are lost, and
    /// Adam's epsilon vanishes in f16; for measuring kernels, not for shipped models.
    #[arg(long, value_enum, default_value_t = FloatArg::F32)]
    float: FloatArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum FloatArg {
    F32,
    Mixed,
    F16,
    Bf16,
}

fn parse_decay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(decay) if (0.0..1.0).contains(&decay) => Ok(decay),
        _ => Err(format!("'{text}' is not a decay in [0, 1)")),
    }
}

fn train_env_help() -> String {
    let mut help = String::from("Environment (flags override):\n");
    for (name, meaning) in designer_core::config::VARIABLES {
        help.push_str(&format!("  {name:<16} {meaning}\n"));
    }
    help
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["out", "sheet"])))]
struct ScenesArgs {
    /// The folder holding the Sweet Home 3D catalogs (`make data` fills it).
    #[arg(long, default_value = ".cache/catalog")]
    catalog: PathBuf,
    /// Write this many labelled renders (images in shards plus labels.jsonl) to --out.
    #[arg(long, default_value_t = 1000)]
    count: u64,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Write a contact sheet instead: every room type (rows) in every style (columns).
    #[arg(long)]
    sheet: Option<PathBuf>,
    /// Side of each render in pixels (64 to 512).
    #[arg(long, default_value_t = 128)]
    size: u32,
    /// Render i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct EvalArgs {
    /// The folder holding the Sweet Home 3D catalogs (`make data` fills it).
    #[arg(long, default_value = ".cache/catalog")]
    catalog: PathBuf,
    /// Classifier training renders per (room type, style) pair.
    #[arg(long, default_value_t = 100)]
    train_per_label: u64,
    /// Held-out test renders per pair.
    #[arg(long, default_value_t = 10)]
    test_per_label: u64,
    /// Generated designs per pair.
    #[arg(long, default_value_t = 4)]
    generated_per_label: u32,
    #[arg(long, default_value_t = 8)]
    epochs: usize,
    /// How the designs are generated (the request defaults), and the renders' size.
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    weights: WeightsArg,
}

/// The request fields every generating command shares, with the request's defaults.
#[derive(Args)]
struct SamplingArgs {
    /// Sampler steps.
    #[arg(long, default_value_t = 20)]
    steps: u32,
    /// Classifier-free guidance (1 = plain conditional, twice as fast).
    #[arg(long, default_value_t = 3.0)]
    guidance: f32,
    /// Side of the images in pixels.
    #[arg(long, default_value_t = 64)]
    size: u32,
}

impl SamplingArgs {
    fn request(&self, room: RoomType, style: Style, variations: u32, seed: u64) -> DesignRequest {
        DesignRequest {
            variations,
            seed,
            steps: self.steps,
            guidance: self.guidance,
            size: self.size,
            ..DesignRequest::new(room, style)
        }
    }
}

#[derive(Args)]
struct SheetArgs {
    #[command(flatten)]
    sampling: SamplingArgs,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value = "sheet.png")]
    out: PathBuf,
    #[command(flatten)]
    weights: WeightsArg,
}

fn parse_label<T: std::str::FromStr<Err = designer_core::labels::UnknownLabel>>(
    s: &str,
) -> Result<T, String> {
    s.parse()
        .map_err(|e: designer_core::labels::UnknownLabel| e.to_string())
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate(args) => generate(args),
        Command::Train(args) => train(args),
        Command::Scenes(args) => scenes(args),
        Command::Eval(args) => eval(args),
        Command::Sheet(args) => sheet(args),
        Command::Info(args) => info(args),
        Command::Export(args) => export(args),
    }
}

/// The weights at `path`, or the embedded default.
fn load_weights(path: Option<&Path>) -> Result<Weights> {
    match path {
        Some(path) => {
            Weights::from_file(path).with_context(|| format!("loading {}", path.display()))
        }
        None => Weights::embedded().context("loading the embedded weights"),
    }
}

/// Writes a weights file atomically and says where, how big and which version.
fn save_weights(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(path, bytes)?;
    eprintln!(
        "wrote {} ({} bytes, {})",
        path.display(),
        bytes.len(),
        Weights::from_bytes(bytes)?.version()
    );
    Ok(())
}

/// The designer for requests of `size` px: `args`' weights, or the embedded model that serves
/// the size.
fn load_designer(args: &WeightsArg, size: u32) -> Result<Designer> {
    let weights = match &args.weights {
        Some(_) => load_weights(args.weights.as_deref())?,
        None => Weights::embedded_for(size).context("loading the embedded weights")?,
    };
    Ok(match args.backend {
        Backend::Cpu => Designer::cpu(&weights)?,
        gpu => Designer::new(&weights, gpu.device()?, gpu.name())?,
    })
}

fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

fn generate(args: GenerateArgs) -> Result<()> {
    let request = match &args.request {
        Some(path) => {
            let json = if path.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?
            };
            DesignRequest::from_json(&json)?
        }
        None => {
            let photo = match &args.photo {
                Some(path) => Some(designer_core::image::to_base64(
                    &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                )),
                None => None,
            };
            let request = DesignRequest {
                sampler: match args.sampler {
                    SamplerArg::Euler => SamplerKind::Euler,
                    SamplerArg::Heun => SamplerKind::Heun,
                },
                photo,
                strength: args.strength,
                ..args
                    .sampling
                    .request(args.room_type, args.style, args.variations, args.seed)
            };
            request.validate()?;
            request
        }
    };
    let mut designer = load_designer(&args.weights, request.size)?;
    if let Some(threads) = args.threads {
        designer = designer.with_threads(threads as usize);
    }
    let mut response = None;
    for run in 1..=args.repeat {
        let progress = bar(0, "generating");
        let generated = designer.generate_with_progress(&request, &mut |done, total| {
            progress.set_length(total.into());
            progress.set_position(done.into());
        })?;
        progress.finish_and_clear();
        if args.repeat > 1 {
            eprintln!("run {run}/{}: {} ms", args.repeat, generated.elapsed_ms);
        }
        response = Some(generated);
    }
    let response = response.expect("--repeat is at least 1");

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let mut written = Vec::new();
    for design in &response.designs {
        let path = args.out.join(format!(
            "{}-{}-{}.png",
            request.room_type, request.style, design.seed
        ));
        std::fs::write(&path, from_base64(&design.png_base64)?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    if args.json {
        println!("{}", serde_json::to_string(&response)?);
    }
    eprintln!(
        "{} designs ({} {}, {}x{}) in {} ms on {} with {}:",
        written.len(),
        request.room_type,
        request.style,
        request.size,
        request.size,
        response.elapsed_ms,
        response.backend,
        response.model
    );
    for path in written {
        eprintln!("  {}", path.display());
    }
    if let Some(path) = &args.tensors {
        write_sampled_tensors(&designer, &request, path)?;
    }
    Ok(())
}

fn write_sampled_tensors(designer: &Designer, request: &DesignRequest, path: &Path) -> Result<()> {
    let sampled = designer.sample_tensors(request)?;
    let shape = sampled.shape.to_vec();
    let metadata = HashMap::from([
        ("request".to_string(), serde_json::to_string(request)?),
        ("t_start".to_string(), sampled.t_start.to_string()),
        ("model".to_string(), designer.model_version().to_string()),
    ]);
    let bytes = interop::tensors_to_safetensors(
        &[
            NamedTensor {
                name: "start",
                shape: shape.clone(),
                values: &sampled.start,
            },
            NamedTensor {
                name: "images",
                shape,
                values: &sampled.images,
            },
        ],
        metadata,
    )?;
    write_atomically(path, &bytes)?;
    eprintln!("  {} (start and sampled tensors)", path.display());
    Ok(())
}

fn open_source(args: &SourceArgs, settings: &TrainSettings) -> Result<Box<dyn ExampleSource>> {
    let size = settings.image_size;
    let capacity = designer_core::shuffle::capacity_for(settings.batch_size);
    if let Some(folder) = &args.data {
        return Ok(Box::new(LabelledFolder::open_buffered(
            folder, size, capacity,
        )?));
    }
    if let Some(root) = &args.catalog {
        return Ok(Box::new(SceneSource::new(load_scene_engine(root)?, size)?));
    }
    if let Some(manifest) = &args.manifest {
        if args.downloads == 0 {
            bail!("--downloads must be at least 1");
        }
        let config = DownloadConfig {
            parallel: args.downloads,
            allow_private_redirects: args.allow_private_redirects,
            ..DownloadConfig::default()
        };
        return Ok(Box::new(UrlSource::for_training(
            manifest, settings, config,
        )?));
    }
    bail!(
        "give --data FOLDER (images + labels.jsonl), --catalog FOLDER (Sweet Home 3D catalogs) or --manifest FILE (image URLs)"
    )
}

fn train(args: TrainArgs) -> Result<()> {
    let mut settings = TrainSettings::from_env()?;
    settings.epochs = args.epochs.unwrap_or(settings.epochs);
    settings.steps_per_epoch = args.steps_per_epoch.unwrap_or(settings.steps_per_epoch);
    settings.batch_size = args.batch_size.unwrap_or(settings.batch_size);
    settings.learning_rate = args.learning_rate.unwrap_or(settings.learning_rate);
    settings.image_size = args.size.unwrap_or(settings.image_size);
    settings.checkpoint_dir = args
        .checkpoint_dir
        .clone()
        .unwrap_or(settings.checkpoint_dir);

    let mut source = open_source(&args.source, &settings)?;
    let config = TrainConfig {
        steps: settings.total_steps(),
        batch_size: settings.batch_size,
        learning_rate: settings.learning_rate,
        seed: args.seed,
        time_limit: args.time_limit.map(std::time::Duration::from_secs),
        ema_decay: (args.ema > 0.0).then_some(args.ema),
        precision: match args.float {
            FloatArg::Mixed => TrainingPrecision::MixedF16,
            FloatArg::F32 | FloatArg::F16 | FloatArg::Bf16 => TrainingPrecision::Uniform,
        },
        ..TrainConfig::default()
    };
    let provenance = Provenance {
        name: args.name.clone(),
        image_size: settings.image_size,
        trained_on: source.describe(),
    };
    let mut device = args.backend.device()?;
    let float = match args.float {
        FloatArg::F32 | FloatArg::Mixed => FloatDType::F32,
        FloatArg::F16 => FloatDType::F16,
        FloatArg::Bf16 => FloatDType::BF16,
    };
    device.configure(float).map_err(|e| {
        anyhow::anyhow!(
            "the {} backend cannot train in {float:?}: {e:?}",
            args.backend.name()
        )
    })?;
    let checkpoint = if args.resume {
        Checkpoint::load(&settings.checkpoint_dir)?
    } else {
        None
    };
    let mut trainer = match (&checkpoint, &args.init) {
        (Some(checkpoint), _) => {
            eprintln!(
                "resuming at step {} from {}",
                checkpoint.state.step,
                settings.checkpoint_dir.display()
            );
            Trainer::resume(checkpoint, device, config, source.as_mut())?
        }
        (None, Some(path)) => Trainer::from_weights(&Weights::from_file(path)?, device, config)?,
        (None, None) => {
            if args.resume {
                eprintln!(
                    "no checkpoint in {} yet: starting fresh",
                    settings.checkpoint_dir.display()
                );
            }
            Trainer::new(
                ModelConfig {
                    base_channels: args.base_channels,
                    ..ModelConfig::default()
                },
                device,
                config,
            )
        }
    };
    let mut metrics = match &args.metrics {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?,
        ),
        None => None,
    };
    eprintln!(
        "training on {}: {} epochs x {} steps of {} images at {} px",
        source.describe(),
        settings.epochs,
        settings.steps_per_epoch,
        settings.batch_size,
        settings.image_size
    );
    let progress = bar(settings.total_steps(), "training");
    progress.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    progress.set_position(trainer.step_count());
    let mut last_loss = f32::NAN;
    while !trainer.is_finished() && !trainer.out_of_time() {
        let epoch_end =
            (trainer.step_count() / settings.steps_per_epoch + 1) * settings.steps_per_epoch;
        let mut report_step = |report: &designer_core::train::StepReport| {
            if let Some(loss) = report.loss {
                last_loss = loss;
                if let Some(file) = metrics.as_mut() {
                    let line = serde_json::json!({"step": report.step, "loss": loss, "images_per_second": report.images_per_second});
                    let _ = writeln!(file, "{line}");
                }
            }
            progress.set_message(format!(
                "loss {last_loss:.4} {:.0} img/s",
                report.images_per_second
            ));
            progress.set_position(report.step);
        };
        trainer.run_until(epoch_end, source.as_mut(), &mut report_step)?;
        let saved = trainer
            .checkpoint(&provenance, source.as_ref())?
            .save(&settings.checkpoint_dir)?;
        // Printed around the bar, and also when stderr is no terminal (logs, CI).
        progress.suspend(|| {
            eprintln!(
                "epoch {}/{}: step {}, loss {last_loss:.4}, skipped items: {}, checkpoint {}",
                trainer.step_count().div_ceil(settings.steps_per_epoch),
                settings.epochs,
                trainer.step_count(),
                source.skipped(),
                saved.display()
            )
        });
    }
    progress.finish();
    if !trainer.is_finished() {
        eprintln!(
            "time limit reached at step {}; `--resume` continues",
            trainer.step_count()
        );
    }
    if let Some(path) = &args.out_trained {
        save_weights(path, &trainer.to_trained_weights(&provenance)?)?;
    }
    save_weights(&args.out, &trainer.to_weights(&provenance)?)
}

/// Writes next to the target, then renames: a killed run never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn load_scene_engine(catalog_root: &Path) -> Result<std::sync::Arc<SceneEngine>> {
    let spinner = ProgressBar::new_spinner().with_message("loading catalog models");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let engine = SceneEngine::load(&catalog::read_all(catalog_root)?)?;
    spinner.finish_and_clear();
    eprintln!(
        "{} catalog pieces loaded ({} left out)",
        engine.pieces().len(),
        engine.skipped().len()
    );
    Ok(std::sync::Arc::new(engine))
}

/// A grid of images: `rows` x `columns` cells of `cell` pixels.
fn contact_sheet(
    rows: u32,
    columns: u32,
    cell: u32,
    mut image_at: impl FnMut(u32, u32) -> Result<RgbImage>,
) -> Result<RgbImage> {
    let gap = 2;
    let mut sheet = RgbImage::from_pixel(
        columns * (cell + gap) + gap,
        rows * (cell + gap) + gap,
        image::Rgb([255, 255, 255]),
    );
    let progress = bar((rows * columns).into(), "sheet");
    for row in 0..rows {
        for column in 0..columns {
            let image = image_at(row, column)?;
            image::imageops::replace(
                &mut sheet,
                &image,
                (gap + column * (cell + gap)) as i64,
                (gap + row * (cell + gap)) as i64,
            );
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    Ok(sheet)
}

fn save_sheet(sheet: &RgbImage, path: &Path) -> Result<()> {
    sheet
        .save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!(
        "wrote {} (rows: {}; columns: {})",
        path.display(),
        RoomType::allowed(),
        Style::allowed()
    );
    Ok(())
}

fn scenes(args: ScenesArgs) -> Result<()> {
    if !(designer_core::scene::MIN_SIZE..=designer_core::scene::MAX_SIZE).contains(&args.size) {
        bail!(
            "--size {} is outside {}..={}",
            args.size,
            designer_core::scene::MIN_SIZE,
            designer_core::scene::MAX_SIZE
        );
    }
    let engine = load_scene_engine(&args.catalog)?;
    if let Some(path) = &args.sheet {
        // One seed per row: the same room in every style.
        let (rows, columns) = (RoomType::ALL.len() as u32, Style::ALL.len() as u32);
        let sheet = contact_sheet(rows, columns, args.size, |row, column| {
            let room = RoomType::ALL[row as usize];
            let style = Style::ALL[column as usize];
            Ok(engine.scene(room, style, args.seed, args.size)?.1)
        })?;
        return save_sheet(&sheet, path);
    }
    let out = args.out.as_ref().expect("clap requires --out or --sheet");
    let mut folder = LabelledFolderWriter::create(out)?;
    let progress = bar(args.count, "rendering");
    let started = std::time::Instant::now();
    // Chunks keep both cores busy while the writer stays in order.
    let chunk = 64u64;
    for first in (0..args.count).step_by(chunk as usize) {
        let renders = designer_core::scene::source::render_many(
            &engine,
            (first..(first + chunk).min(args.count)).map(|i| {
                // Every room type in every style in turn, so any prefix is balanced.
                let room = RoomType::ALL[(i as usize) % RoomType::ALL.len()];
                let style = Style::ALL[(i as usize / RoomType::ALL.len()) % Style::ALL.len()];
                (room, style, args.seed.wrapping_add(i))
            }),
            args.size,
        )?;
        for (scene, image) in renders {
            folder.add(&image, &scene)?;
            progress.inc(1);
        }
    }
    progress.finish_and_clear();
    let written = folder.finish()?;
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {written} renders to {} in {seconds:.1} s ({:.1} renders/s)",
        out.display(),
        written as f64 / seconds
    );
    Ok(())
}

/// Seeds of the classifier's renders: far from 0.. (the CLI's datasets) and drawn from by the
/// generator's training (uniform over u64) with odds of about 1e-13 per run.
const EVAL_TRAIN_SEEDS: u64 = 1 << 62;
const EVAL_TEST_SEEDS: u64 = (1 << 62) + (1 << 40);

fn eval(args: EvalArgs) -> Result<()> {
    use designer_core::eval::{evaluate, frechet_distance, train_classifier};
    use designer_core::image::rgb_to_tensor;
    if args.train_per_label == 0 || args.test_per_label == 0 || args.generated_per_label == 0 {
        bail!("--train-per-label, --test-per-label and --generated-per-label must be at least 1");
    }
    let engine = load_scene_engine(&args.catalog)?;
    let designer = load_designer(&args.weights, args.sampling.size)?;
    let size = args.sampling.size;
    let pairs: Vec<(RoomType, Style)> = RoomType::ALL
        .iter()
        .flat_map(|r| Style::ALL.iter().map(move |s| (*r, *s)))
        .collect();
    let render =
        |per_label: u64, base: u64, what: &str| -> Result<Vec<designer_core::dataset::Example>> {
            let progress = bar(per_label * pairs.len() as u64, what);
            let mut examples = Vec::new();
            for k in 0..per_label {
                let jobs: Vec<_> = pairs
                    .iter()
                    .enumerate()
                    .map(|(i, (r, s))| (*r, *s, base + k * 1000 + i as u64))
                    .collect();
                examples.extend(designer_core::scene::source::render_examples(
                    &engine, &jobs, size,
                )?);
                progress.inc(jobs.len() as u64);
            }
            progress.finish_and_clear();
            Ok(examples)
        };
    let training = render(args.train_per_label, EVAL_TRAIN_SEEDS, "renders")?;
    let test = render(args.test_per_label, EVAL_TEST_SEEDS, "test renders")?;
    let device = Device::flex();
    let progress = bar(0, "classifier");
    let classifier = train_classifier(
        &training,
        size as usize,
        args.epochs,
        64,
        0,
        &device,
        &mut |step, total, loss| {
            progress.set_length(total as u64);
            progress.set_position(step as u64);
            progress.set_message(format!("loss {loss:.3}"));
        },
    );
    progress.finish_and_clear();
    let (real, real_features) = evaluate(&classifier, &test, size as usize, &device);

    let progress = bar(pairs.len() as u64, "generating");
    let mut generated = Vec::new();
    for (i, (room, style)) in pairs.iter().enumerate() {
        let request = args.sampling.request(
            *room,
            *style,
            args.generated_per_label,
            7_000 + i as u64 * 100,
        );
        for design in designer.generate(&request)?.designs {
            let image = image::load_from_memory(&from_base64(&design.png_base64)?)?.to_rgb8();
            generated.push(designer_core::dataset::Example {
                pixels: rgb_to_tensor(&image),
                room: *room,
                style: *style,
            });
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    let (fake, fake_features) = evaluate(&classifier, &generated, size as usize, &device);
    // The distance between two sets of real renders of the generated set's size: what "as
    // close as real" reads on this scale.
    let (_, reference_features) = evaluate(
        &classifier,
        &training[..generated.len().min(training.len())],
        size as usize,
        &device,
    );
    let fid = frechet_distance(&real_features, &fake_features);
    let fid_real = frechet_distance(&real_features, &reference_features);
    let report = serde_json::json!({
        "model": designer.model_version(),
        "size": size,
        "classifier": {"train_renders": training.len(), "epochs": args.epochs},
        "real": {"count": test.len(), "accuracy": real},
        "generated": {"count": generated.len(), "steps": args.sampling.steps, "guidance": args.sampling.guidance, "accuracy": fake},
        "generated_vs_real_accuracy": fake.both / real.both.max(1e-9),
        "frechet_distance": fid,
        "frechet_distance_real_vs_real": fid_real,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{}: classifier on {} held-out renders: room {:.1} %, style {:.1} %, both {:.1} %\n\
             generated ({} designs): room {:.1} %, style {:.1} %, both {:.1} % ({:.0} % of real)\n\
             Frechet distance on classifier features: {fid:.3} (two real sets: {fid_real:.3})",
            designer.model_version(),
            test.len(),
            real.room_type * 100.0,
            real.style * 100.0,
            real.both * 100.0,
            generated.len(),
            fake.room_type * 100.0,
            fake.style * 100.0,
            fake.both * 100.0,
            fake.both / real.both.max(1e-9) * 100.0,
        );
    }
    Ok(())
}

fn sheet(args: SheetArgs) -> Result<()> {
    let designer = load_designer(&args.weights, args.sampling.size)?;
    let sheet = contact_sheet(
        RoomType::ALL.len() as u32,
        Style::ALL.len() as u32,
        args.sampling.size,
        |row, column| {
            let request = args.sampling.request(
                RoomType::ALL[row as usize],
                Style::ALL[column as usize],
                1,
                args.seed + column as u64,
            );
            let response = designer.generate(&request)?;
            let png = from_base64(&response.designs[0].png_base64)?;
            Ok(image::load_from_memory(&png)?.to_rgb8())
        },
    )?;
    save_sheet(&sheet, &args.out)
}

fn export(args: ExportArgs) -> Result<()> {
    let weights = load_weights(args.weights.as_deref())?;
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F16 => Precision::F16,
    };
    match args.format {
        ExportFormat::Designer => {
            let model = weights.build(&Device::flex())?;
            save_weights(
                &args.out,
                &Weights::encode_as(model, &weights.header, precision)?,
            )
        }
        ExportFormat::Safetensors => {
            let bytes = interop::weights_to_safetensors(&weights, precision)?;
            write_atomically(&args.out, &bytes)?;
            eprintln!(
                "wrote {} ({} bytes, PyTorch layout, from {})",
                args.out.display(),
                bytes.len(),
                weights.version()
            );
            Ok(())
        }
    }
}

fn info(args: WeightsArg) -> Result<()> {
    let weights = load_weights(args.weights.as_deref())?;
    println!("{}", serde_json::to_string_pretty(&weights.describe())?);
    Ok(())
}
