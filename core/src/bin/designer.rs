//! `designer`: generate designs, build training data and train the generator from the shell.

use anyhow::{Context, Result, bail};
use burn::tensor::Device;
use clap::{Args, Parser, Subcommand, ValueEnum};
use designer_core::catalog;
use designer_core::checkpoint::Checkpoint;
use designer_core::config::TrainSettings;
use designer_core::dataset::{ExampleSource, LabelledFolder, LabelledFolderWriter};
use designer_core::image::from_base64;
use designer_core::model::ModelConfig;
use designer_core::request::{DesignRequest, SamplerKind};
use designer_core::train::{Provenance, TrainConfig, Trainer};
use designer_core::vignette::VignetteRenderer;
use designer_core::weights::{Precision, Weights};
use designer_core::{Designer, RoomType, Style};
use image::RgbImage;
use indicatif::{ProgressBar, ProgressStyle};
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
    /// Train the generator on labelled images or on vignettes of the furniture catalog.
    Train(TrainArgs),
    /// Write labelled training images (room vignettes from the furniture catalog) to a folder.
    Dataset(DatasetArgs),
    /// Write a contact sheet: one image per room type (rows) and style (columns).
    Sheet(SheetArgs),
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
    #[arg(long)]
    out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum PrecisionArg {
    F32,
    F16,
}

#[derive(Args)]
struct WeightsArg {
    /// Weights file to use instead of the embedded default.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

#[derive(Clone, Copy, ValueEnum)]
enum Backend {
    /// burn's pure-Rust CPU backend (flex).
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
    #[arg(long, default_value_t = 20)]
    steps: u32,
    #[arg(long, default_value_t = 3.0)]
    guidance: f32,
    #[arg(long, default_value_t = 64)]
    size: u32,
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
    #[command(flatten)]
    weights: WeightsArg,
}

#[derive(Clone, Copy, ValueEnum)]
enum SamplerArg {
    Euler,
    Heun,
}

#[derive(Args)]
struct SourceArgs {
    /// A folder of images with a labels.jsonl.
    #[arg(long, conflicts_with = "catalog")]
    data: Option<PathBuf>,
    /// A folder holding the Sweet Home 3D catalogs (`.sh3f`, `sweethome3d.jar`); vignettes are
    /// rendered from it on the fly.
    #[arg(long)]
    catalog: Option<PathBuf>,
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
    /// Start from these weights (with a fresh optimizer) instead of a fresh model.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Channels at full resolution (fresh models only).
    #[arg(long, default_value_t = ModelConfig::default().base_channels)]
    base_channels: usize,
    #[arg(long, default_value = "designer")]
    name: String,
    #[arg(long, default_value = "model.weights")]
    out: PathBuf,
    /// Append one JSON line per loss reading to this file.
    #[arg(long)]
    metrics: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    backend: Backend,
}

fn train_env_help() -> String {
    let mut help = String::from("Environment (flags override):\n");
    for (name, meaning) in designer_core::config::VARIABLES {
        help.push_str(&format!("  {name:<16} {meaning}\n"));
    }
    help
}

#[derive(Args)]
struct DatasetArgs {
    #[arg(long)]
    catalog: PathBuf,
    #[arg(long, default_value_t = 1000)]
    count: u64,
    #[arg(long, default_value_t = 64)]
    size: u32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct SheetArgs {
    /// Draw catalog vignettes (the training images) instead of generated designs.
    #[arg(long)]
    catalog: Option<PathBuf>,
    #[arg(long, default_value_t = 64)]
    size: u32,
    #[arg(long, default_value_t = 20)]
    steps: u32,
    #[arg(long, default_value_t = 3.0)]
    guidance: f32,
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
        Command::Dataset(args) => dataset(args),
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

fn load_designer(args: &WeightsArg) -> Result<Designer> {
    let weights = load_weights(args.weights.as_deref())?;
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
                variations: args.variations,
                seed: args.seed,
                steps: args.steps,
                guidance: args.guidance,
                size: args.size,
                sampler: match args.sampler {
                    SamplerArg::Euler => SamplerKind::Euler,
                    SamplerArg::Heun => SamplerKind::Heun,
                },
                photo,
                strength: args.strength,
                ..DesignRequest::new(args.room_type, args.style)
            };
            request.validate()?;
            request
        }
    };
    let designer = load_designer(&args.weights)?;
    let progress = bar(0, "generating");
    let response = designer.generate_with_progress(&request, &mut |done, total| {
        progress.set_length(total.into());
        progress.set_position(done.into());
    })?;
    progress.finish_and_clear();

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
    Ok(())
}

fn open_source(args: &SourceArgs, size: u32) -> Result<Box<dyn ExampleSource>> {
    match (&args.data, &args.catalog) {
        (Some(folder), _) => Ok(Box::new(LabelledFolder::open(folder, size)?)),
        (None, Some(root)) => Ok(Box::new(VignetteRenderer::new(
            &catalog::read_all(root)?,
            size,
        )?)),
        (None, None) => bail!(
            "give --data FOLDER (images + labels.jsonl) or --catalog FOLDER (Sweet Home 3D catalogs)"
        ),
    }
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

    let mut source = open_source(&args.source, settings.image_size)?;
    let config = TrainConfig {
        steps: settings.total_steps(),
        batch_size: settings.batch_size,
        learning_rate: settings.learning_rate,
        seed: args.seed,
        time_limit: args.time_limit.map(std::time::Duration::from_secs),
        ..TrainConfig::default()
    };
    let provenance = Provenance {
        name: args.name.clone(),
        image_size: settings.image_size,
        trained_on: source.describe(),
    };
    let device = args.backend.device()?;
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
            Trainer::resume(checkpoint, device, config)?
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
        trainer.run_until(epoch_end, source.as_mut(), &mut |report| {
            if let Some(loss) = report.loss {
                last_loss = loss;
                if let Some(file) = metrics.as_mut() {
                    let line = serde_json::json!({"step": report.step, "loss": loss, "images_per_second": report.images_per_second});
                    let _ = writeln!(file, "{line}");
                }
            }
            progress.set_message(format!("loss {last_loss:.4} {:.0} img/s", report.images_per_second));
            progress.set_position(report.step);
        });
        let saved = trainer
            .checkpoint(&provenance)?
            .save(&settings.checkpoint_dir)?;
        // Printed around the bar, and also when stderr is no terminal (logs, CI).
        progress.suspend(|| {
            eprintln!(
                "epoch {}/{}: step {}, loss {last_loss:.4}, checkpoint {}",
                trainer.step_count().div_ceil(settings.steps_per_epoch),
                settings.epochs,
                trainer.step_count(),
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
    let bytes = trainer.to_weights(&provenance)?;
    save_weights(&args.out, &bytes)
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

fn dataset(args: DatasetArgs) -> Result<()> {
    let renderer = VignetteRenderer::new(&catalog::read_all(&args.catalog)?, args.size)?;
    let mut folder = LabelledFolderWriter::create(&args.out)?;
    let progress = bar(args.count, "rendering");
    for i in 0..args.count {
        // Every room type in every style in turn, so any prefix of the folder is balanced.
        let room = RoomType::ALL[(i as usize) % RoomType::ALL.len()];
        let style = Style::ALL[(i as usize / RoomType::ALL.len()) % Style::ALL.len()];
        folder.add(
            &renderer.render(room, style, args.seed.wrapping_add(i)),
            room,
            style,
        )?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let written = folder.finish()?;
    eprintln!("wrote {written} labelled images to {}", args.out.display());
    Ok(())
}

fn sheet(args: SheetArgs) -> Result<()> {
    let cell = args.size;
    let gap = 2;
    let (cols, rows) = (Style::ALL.len() as u32, RoomType::ALL.len() as u32);
    let mut sheet = RgbImage::from_pixel(
        cols * (cell + gap) + gap,
        rows * (cell + gap) + gap,
        image::Rgb([255, 255, 255]),
    );
    let mut put = |row: u32, col: u32, image: &RgbImage| {
        image::imageops::replace(
            &mut sheet,
            image,
            (gap + col * (cell + gap)) as i64,
            (gap + row * (cell + gap)) as i64,
        );
    };
    let progress = bar((cols * rows).into(), "sheet");
    match &args.catalog {
        Some(root) => {
            let renderer = VignetteRenderer::new(&catalog::read_all(root)?, cell)?;
            for (row, room) in RoomType::ALL.iter().enumerate() {
                for (col, style) in Style::ALL.iter().enumerate() {
                    put(
                        row as u32,
                        col as u32,
                        &renderer.render(*room, *style, args.seed + col as u64),
                    );
                    progress.inc(1);
                }
            }
        }
        None => {
            let designer = load_designer(&args.weights)?;
            for (row, room) in RoomType::ALL.iter().enumerate() {
                for (col, style) in Style::ALL.iter().enumerate() {
                    let request = DesignRequest {
                        variations: 1,
                        seed: args.seed + col as u64,
                        steps: args.steps,
                        guidance: args.guidance,
                        size: cell,
                        ..DesignRequest::new(*room, *style)
                    };
                    let response = designer.generate(&request)?;
                    let png = from_base64(&response.designs[0].png_base64)?;
                    put(
                        row as u32,
                        col as u32,
                        &image::load_from_memory(&png)?.to_rgb8(),
                    );
                    progress.inc(1);
                }
            }
        }
    }
    progress.finish_and_clear();
    sheet
        .save(&args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} (rows: {}; columns: {})",
        args.out.display(),
        RoomType::allowed(),
        Style::allowed()
    );
    Ok(())
}

fn export(args: ExportArgs) -> Result<()> {
    let weights = load_weights(args.weights.as_deref())?;
    let precision = match args.precision {
        PrecisionArg::F32 => Precision::F32,
        PrecisionArg::F16 => Precision::F16,
    };
    let model = weights.build(&Device::flex())?;
    let bytes = Weights::encode_as(model, &weights.header, precision)?;
    save_weights(&args.out, &bytes)
}

fn info(args: WeightsArg) -> Result<()> {
    let weights = load_weights(args.weights.as_deref())?;
    let info = serde_json::json!({
        "model": weights.version(),
        "weights": weights.header,
        "room_types": RoomType::ALL,
        "styles": Style::ALL,
        "limits": {
            "variations": [1, designer_core::request::MAX_VARIATIONS],
            "size": [designer_core::request::MIN_SIZE, designer_core::request::MAX_SIZE, designer_core::request::SIZE_MULTIPLE],
            "steps": [1, designer_core::request::MAX_STEPS],
            "guidance": [0.0, designer_core::request::MAX_GUIDANCE],
        },
    });
    println!("{}", serde_json::to_string_pretty(&info)?);
    Ok(())
}
