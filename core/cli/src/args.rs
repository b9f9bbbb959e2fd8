//! The command line: every subcommand's flags, and their conversion into the libraries' types.

use anyhow::{Context, Result, bail};
use burn::tensor::FloatDType;
use clap::{Args, Parser, Subcommand, ValueEnum};
use designer_core::model::ModelConfig;
use designer_core::request::{DesignRequest, Keep, MAX_GUIDANCE, MAX_PHOTO_BYTES};
use designer_core::sampler::SamplerKind;
use designer_core::weights::Precision;
use designer_core::{Device, RoomType, Style};
use designer_train::config::TrainSettings;
use designer_train::precision::TrainingPrecision;
use designer_train::train::Objective;
use designer_train::train::TrainConfig;
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "designer",
    version,
    about = "AI interior designer: room designs from a room type and a style"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size of the largest arguments costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
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
    /// Write the edge map of a photo: the layout a layout-keeping network follows.
    Edges(EdgesArgs),
}

#[derive(Args)]
pub struct EdgesArgs {
    /// A PNG or JPEG photo (or render).
    #[arg(long)]
    pub photo: PathBuf,
    /// The side it is centre-cropped and scaled to first, as a request's photo is.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=1024))]
    pub size: u32,
    /// The PNG to write: white edges on black.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct ExportArgs {
    /// Weights to export (default: the embedded default model, generator v2 at 256 px).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = PrecisionArg::F16)]
    pub precision: PrecisionArg,
    #[arg(long, value_enum, default_value_t = ExportFormat::Designer)]
    pub format: ExportFormat,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// The weights file the CLI, the browser and the Lambda load.
    Designer,
    /// safetensors with PyTorch's parameter names and layouts (bench/'s PyTorch reference).
    Safetensors,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PrecisionArg {
    F32,
    F16,
    /// Weight matrices and kernels as int8 with a scale per output channel, the rest f16:
    /// about a quarter of f32, widened back when the model is built.
    Int8,
    /// int8 with half the levels (+-63): as large a file, about a seventh smaller gzipped
    /// (what the site serves).
    Int7,
}

#[derive(Args)]
pub struct WeightsArg {
    /// Weights file to use instead of the embedded models (generator v2 for 256 px, the
    /// default; the 128 px and 64 px U-Nets for smaller sizes).
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// Compute backend.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Backend {
    /// The CPU: generation on the core's hand-written pass, training on burn's flex backend.
    Cpu,
    /// Vulkan GPU (builds with the `gpu` feature).
    Vulkan,
}

impl Backend {
    pub fn device(self) -> Result<Device> {
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

    pub fn name(self) -> &'static str {
        match self {
            Backend::Cpu => "cpu",
            Backend::Vulkan => "vulkan",
        }
    }
}

#[derive(Args)]
pub struct GenerateArgs {
    #[arg(long, default_value = "bedroom", value_parser = parse_label::<RoomType>)]
    pub room_type: RoomType,
    #[arg(long, default_value = "scandinavian", value_parser = parse_label::<Style>)]
    pub style: Style,
    #[arg(long, default_value_t = 4)]
    pub variations: u32,
    /// Variation i uses seed + i.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// A photo (PNG or JPEG) of a room to restyle.
    #[arg(long)]
    pub photo: Option<PathBuf>,
    /// How far the photo may change, 0 to 1 (when its colours are kept).
    #[arg(long, default_value_t = 0.6)]
    pub strength: f32,
    /// What the designs keep of --photo: its layout (the edge map of its walls, windows and
    /// furniture, for a model trained to follow one), its colours (the sampler starts from the
    /// photo noised by --strength), or both. Default: its layout where the model follows
    /// layouts, else its colours.
    #[arg(long, value_enum, requires = "photo")]
    pub keep: Option<KeepArg>,
    /// A JSON request file (`-` for stdin) instead of the flags above.
    #[arg(long)]
    pub request: Option<PathBuf>,
    #[arg(long, default_value = "designs")]
    pub out: PathBuf,
    /// Print the JSON response (with base64 PNGs) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the starting tensor and the sampled images as floats (safetensors `start`
    /// and `images`, the request under metadata) to this file, for checking other
    /// implementations of the network against ours (samples the request a second time).
    #[arg(long)]
    pub tensors: Option<PathBuf>,
    /// CPU threads to split the variations over (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,
    /// Generate the request this many times in one process, printing each run's time (a
    /// GPU's first run includes compiling its kernels); the last run's designs are written.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    #[command(flatten)]
    pub weights: WeightsArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SamplerArg {
    Euler,
    Heun,
    Teacher,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum KeepArg {
    Layout,
    #[value(alias = "colors")]
    Colours,
    Both,
}

impl From<KeepArg> for Keep {
    fn from(arg: KeepArg) -> Self {
        match arg {
            KeepArg::Layout => Keep::Layout,
            KeepArg::Colours => Keep::Colours,
            KeepArg::Both => Keep::Both,
        }
    }
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").args(["data", "catalog", "manifest"])))]
pub struct SourceArgs {
    /// A folder of images with a labels.jsonl.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// A folder holding the Sweet Home 3D catalogs (`.sh3f`, `sweethome3d.jar`); furnished
    /// rooms are rendered from it on the fly.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// A JSONL manifest of {"url", "room_type", "style"} lines; images are downloaded (at most
    /// MAX_IMAGE_SIZE bytes each) and bad ones skipped and counted.
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// With --catalog: keep this many renders in memory and draw batches from them at random,
    /// the pool refreshed as the engine renders on all cores but two (for a GPU that trains
    /// faster than the CPU renders). Not repeatable bit for bit. 0: every batch is rendered
    /// afresh.
    #[arg(long, default_value_t = 0)]
    pub pool: usize,
    /// With --pool: threads rendering it (default: all cores but two). Fewer leave cores to
    /// the training step's own host work.
    #[arg(long, requires = "pool", value_parser = at_least_one::<usize>)]
    pub render_threads: Option<usize>,
    /// Downloads in flight at once.
    #[arg(long, default_value_t = 8)]
    pub downloads: usize,
    /// Follow redirects to loopback, private and link-local addresses.
    #[arg(long)]
    pub allow_private_redirects: bool,
}

#[derive(Args)]
#[command(after_help = train_env_help())]
pub struct TrainArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Overrides EPOCHS.
    #[arg(long)]
    pub epochs: Option<u64>,
    /// Overrides STEPS_PER_EPOCH.
    #[arg(long)]
    pub steps_per_epoch: Option<u64>,
    /// Overrides BATCH_SIZE.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Overrides LEARNING_RATE.
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Overrides IMAGE_SIZE.
    #[arg(long)]
    pub size: Option<u32>,
    /// Overrides CHECKPOINT_DIR.
    #[arg(long)]
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the checkpoint in the checkpoint folder, if there is one.
    #[arg(long)]
    pub resume: bool,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop after this many seconds even if steps remain; the checkpoint and weights are
    /// still written.
    #[arg(long)]
    pub time_limit: Option<u64>,
    /// Start from these weights (with a fresh optimizer) instead of a fresh model; with
    /// --resume, only when there is no checkpoint yet (a chained run's first chunk).
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// The network of a fresh model: the first U-Net over pixels (the 64 and 128 px models),
    /// generator v2 over pixels, or generator v2 over its own autoencoder's latents with a
    /// U-Net or a transformer (train the autoencoder with `--objective autoencoder` first,
    /// then the flow from those weights, or a new network over them with `--autoencoder`).
    #[arg(long, default_value = "unet-v1", value_parser = clap::builder::PossibleValuesParser::new(designer_core::model::PRESETS))]
    pub network: String,
    /// Channels at the network's full resolution (fresh models only; the network's own by
    /// default).
    #[arg(long)]
    pub base_channels: Option<usize>,
    /// What the run teaches: the flow (the generator), the autoencoder of a latent network,
    /// its decoder alone (the encoder frozen, so a network trained over its latents stays
    /// valid and draws with the better decoder), or guidance distilled from --teacher: the
    /// network (--init, usually the teacher's own weights) gains layers that read the
    /// guidance weight and learns to give the teacher's guided velocity in one evaluation,
    /// for weights 1 to 6 (half the evaluations of a guided request), or steps distilled
    /// from --teacher: the network also gains layers
    /// that read the step size and learns to jump a quarter or an eighth of the path as the
    /// teacher's guided sampler does in five steps, so a request needs 8 steps (or 4), not 20.
    #[arg(long, value_enum, default_value_t = ObjectiveArg::Flow)]
    pub objective: ObjectiveArg,
    /// With `--objective guidance` or `steps`: the weights whose guided velocity (or
    /// sampler) the network learns.
    #[arg(long, required_if_eq_any([("objective", "guidance"), ("objective", "steps")]))]
    pub teacher: Option<PathBuf>,
    /// With `--objective autoencoder` or `decoder`: learn from a random CROP x CROP window of
    /// each batch (a multiple of the autoencoder's factor, 8), a quarter of the work at half
    /// the side.
    #[arg(long)]
    pub crop: Option<usize>,
    /// With `--objective autoencoder` or `decoder`: also learn against a patch critic that
    /// tells the reconstructions from the renders, its judgement weighing WEIGHT in the loss
    /// (ramped in over the critic's first 500 steps). The L1 and edge loss alone blur what a
    /// latent cannot pin down; the critic asks for detail that looks rendered. The critic is
    /// not checkpointed: a resumed run starts a fresh one.
    #[arg(long, value_name = "WEIGHT", value_parser = adversarial_weight)]
    pub adversarial: Option<f32>,
    /// The flow over latents trains on each encoded render this many times on average (from
    /// a ring of 64 batches of latents on the device), so a step encodes only batch / REUSE
    /// new renders: the encoder is most of a step's GPU time. A resumed run refills the ring.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub latent_reuse: u32,
    /// Teach the network to keep a photo's layout: a transformer (`dit-latent`) that has no
    /// layout layer gains one, starting at zero so it draws as before, and learns to follow
    /// the edge map of each render, shown for half the examples (plain requests stay
    /// trained). A network that has the layer always learns it; this flag is for adding it.
    #[arg(long)]
    pub layout: bool,
    /// A fresh network (`--network`, a latent one) over the trained autoencoder of these
    /// weights, which stays as it is: only the new denoiser learns.
    #[arg(long, conflicts_with = "init")]
    pub autoencoder: Option<PathBuf>,
    #[arg(long, default_value = "designer")]
    pub name: String,
    /// The weights: the moving average of the parameters (see --ema).
    #[arg(long, default_value = "model.weights")]
    pub out: PathBuf,
    /// Also write the last step's parameters here (to compare them with the average).
    #[arg(long)]
    pub out_trained: Option<PathBuf>,
    /// Decay of the moving average of the parameters that --out gets (ramped up over the
    /// first steps); 0 writes the last step's parameters instead.
    #[arg(long, default_value_t = TrainConfig::default().ema_decay.unwrap_or(0.0), value_parser = parse_decay)]
    pub ema: f64,
    /// Append one JSON line per loss reading to this file.
    #[arg(long)]
    pub metrics: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
    /// Float type of the training step on the device. `mixed` computes the convolutions and
    /// linear layers in f16 (tensor cores on a GPU) from f32 parameters, with GroupNorm, the
    /// loss and the optimizer in f32 and the loss scaled. `f16` and `bf16` put everything,
    /// parameters and optimizer state included, in that type: small updates are lost, and
    /// Adam's epsilon vanishes in f16; for measuring kernels, not for shipped models.
    #[arg(long, value_enum, default_value_t = FloatArg::F32)]
    pub float: FloatArg,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ObjectiveArg {
    Flow,
    Autoencoder,
    /// The autoencoder's decoder alone, its encoder frozen (a trained denoiser stays valid).
    Decoder,
    Guidance,
    Steps,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum FloatArg {
    F32,
    Mixed,
    F16,
    Bf16,
}

/// A critic's weight: a number above 0 and at most 10 (a larger one drowns the reconstruction).
fn adversarial_weight(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(weight) if weight > 0.0 && weight <= 10.0 => Ok(weight),
        _ => Err(format!("'{text}' is not a weight above 0 and at most 10")),
    }
}

/// A whole number of at least 1, refused with a message that says so.
pub fn at_least_one<T: std::str::FromStr + PartialOrd + From<u8>>(text: &str) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if n >= T::from(1) => Ok(n),
        _ => Err("must be a whole number of at least 1".to_string()),
    }
}

/// A guidance weight a request accepts, checked before an eval spends minutes rendering.
pub fn guidance_weight(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(weight) if (0.0..=MAX_GUIDANCE).contains(&weight) => Ok(weight),
        _ => Err(format!(
            "'{text}' is not a guidance weight between 0 and {MAX_GUIDANCE}"
        )),
    }
}

pub fn parse_decay(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(decay) if (0.0..1.0).contains(&decay) => Ok(decay),
        _ => Err(format!("'{text}' is not a decay in [0, 1)")),
    }
}

pub fn train_env_help() -> String {
    let mut help = String::from("Environment (flags override):\n");
    for (name, meaning) in designer_train::config::VARIABLES {
        help.push_str(&format!("  {name:<16} {meaning}\n"));
    }
    help
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("output").required(true).args(["out", "sheet", "subset"])))]
pub struct ScenesArgs {
    /// The folder holding the Sweet Home 3D catalogs (`make data` fills it).
    #[arg(long, default_value = ".cache/catalog")]
    pub catalog: PathBuf,
    /// Write this many labelled renders (images in shards plus labels.jsonl) to --out.
    #[arg(long, default_value_t = 1000)]
    pub count: u64,
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write a contact sheet instead: every room type (rows) in every style (columns).
    #[arg(long)]
    pub sheet: Option<PathBuf>,
    /// Copy the catalog into this folder with only the models the scenes draw (the open-content
    /// libraries, their pieces that play a role): what a machine without Debian's packages
    /// needs to render the same scenes.
    #[arg(long)]
    pub subset: Option<PathBuf>,
    /// Side of each render in pixels (64 to 512).
    #[arg(long, default_value_t = 128)]
    pub size: u32,
    /// Render i uses seed + i.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The folder holding the Sweet Home 3D catalogs (`make data` fills it).
    #[arg(long, default_value = ".cache/catalog")]
    pub catalog: PathBuf,
    /// Classifier training renders per (room type, style) pair.
    #[arg(long, default_value_t = 100, value_parser = at_least_one::<u64>)]
    pub train_per_label: u64,
    /// Held-out test renders per pair.
    #[arg(long, default_value_t = 10, value_parser = at_least_one::<u64>)]
    pub test_per_label: u64,
    /// Generated designs per pair.
    #[arg(long, default_value_t = 4, value_parser = at_least_one::<u32>)]
    pub generated_per_label: u32,
    #[arg(long, default_value_t = 8)]
    pub epochs: usize,
    /// For a model that follows layouts: restyle this many held-out renders as photos, each
    /// into another style, and report the edge F1 of the designs against them (keeping the
    /// layout, and keeping the colours as the baseline) and how often the classifier names
    /// the requested style. 0: skip.
    #[arg(long, default_value_t = 200)]
    pub restyle_photos: usize,
    /// How the designs are generated (the request defaults), and the renders' size.
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Print the report as JSON (with --also, a list of the reports, the first model's first).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub weights: WeightsArg,
    /// Also judge these weights, by the same classifier on the same renders (the renders and
    /// the classifier are most of an eval's time, and a shared judge makes the numbers
    /// comparable): a teacher and its student, f16 and int8 files of one model.
    #[arg(long)]
    pub also: Vec<PathBuf>,
    /// Also judge every model at this guidance weight (repeat for several), by the same
    /// classifier: guidance trades the designs' variety for their fidelity to the labels.
    /// Restyled photos are judged at --guidance only.
    #[arg(long, value_parser = guidance_weight)]
    pub also_guidance: Vec<f32>,
}

/// The request fields every generating command shares, with the request's defaults.
#[derive(Args)]
pub struct SamplingArgs {
    /// Sampler steps (default: what the model needs: 8 for a step-distilled student, else 20).
    #[arg(long)]
    pub steps: Option<u32>,
    /// How the flow is integrated: euler, heun (two evaluations a step), or teacher (a
    /// step-distilled student's 20-step reference: the velocity it learnt from).
    #[arg(long, value_enum, default_value_t = SamplerArg::Euler)]
    pub sampler: SamplerArg,
    /// Classifier-free guidance (1 = plain conditional, twice as fast).
    #[arg(long, default_value_t = 3.0, value_parser = guidance_weight)]
    pub guidance: f32,
    /// Side of the images in pixels (the request's default; below 256 the small models
    /// serve it; above, the 256 px model draws it at 256 and redraws it at this size).
    #[arg(long, default_value_t = designer_core::request::DEFAULT_SIZE)]
    pub size: u32,
}

impl SamplingArgs {
    pub fn request(
        &self,
        room: RoomType,
        style: Style,
        variations: u32,
        seed: u64,
    ) -> DesignRequest {
        DesignRequest {
            variations,
            seed,
            steps: self.steps,
            guidance: self.guidance,
            size: self.size,
            sampler: self.sampler.into(),
            ..DesignRequest::new(room, style)
        }
    }
}

#[derive(Args)]
pub struct SheetArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Instead, restyle this many renders of held-out scenes as if they were photos: one row
    /// each, the photo, its edge map and its designs in four styles, keeping its layout.
    #[arg(long)]
    pub restyle: Option<usize>,
    /// The Sweet Home 3D catalogs the --restyle photos are rendered from.
    #[arg(long, default_value = ".cache/catalog")]
    pub catalog: PathBuf,
    #[arg(long, default_value = "sheet.png")]
    pub out: PathBuf,
    #[command(flatten)]
    pub weights: WeightsArg,
}

pub fn parse_label<T: std::str::FromStr<Err = designer_core::labels::UnknownLabel>>(
    s: &str,
) -> Result<T, String> {
    s.parse()
        .map_err(|e: designer_core::labels::UnknownLabel| e.to_string())
}

impl GenerateArgs {
    /// The request: `--request`'s JSON (checked as the browser and the Lambda check it), or
    /// the flags, with `--photo` read and encoded.
    pub fn design_request(&self) -> Result<DesignRequest> {
        if let Some(path) = &self.request {
            let bytes = read_at_most(path, MAX_REQUEST_BYTES, "--request")?;
            let json = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("--request {}: not UTF-8 text", path.display()))?;
            return Ok(DesignRequest::from_json(&json)?);
        }
        let photo = match &self.photo {
            Some(path) => Some(designer_core::image::to_base64(&read_at_most(
                path,
                MAX_PHOTO_BYTES as u64,
                "--photo",
            )?)),
            None => None,
        };
        let request = DesignRequest {
            photo,
            strength: self.strength,
            keep: self.keep.map(Keep::from),
            ..self
                .sampling
                .request(self.room_type, self.style, self.variations, self.seed)
        };
        request.validate()?;
        Ok(request)
    }
}

/// The largest request a file may hold: a photo at its limit, base64-encoded, and the fields.
const MAX_REQUEST_BYTES: u64 = MAX_PHOTO_BYTES as u64 * 4 / 3 + 64 * 1024;

/// The file at `path` (`-`: stdin), refused once it passes `limit` bytes: reads at most one
/// byte more than the limit, however large (or endless) the file is.
fn read_at_most(path: &Path, limit: u64, flag: &str) -> Result<Vec<u8>> {
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?)
    };
    let mut bytes = Vec::new();
    reader
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > limit {
        bail!("{flag} {}: larger than {limit} bytes", path.display());
    }
    Ok(bytes)
}

impl From<SamplerArg> for SamplerKind {
    fn from(arg: SamplerArg) -> Self {
        match arg {
            SamplerArg::Euler => SamplerKind::Euler,
            SamplerArg::Heun => SamplerKind::Heun,
            SamplerArg::Teacher => SamplerKind::Teacher,
        }
    }
}

impl From<PrecisionArg> for Precision {
    fn from(arg: PrecisionArg) -> Self {
        match arg {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::Int7 => Precision::Int7,
        }
    }
}

impl TrainArgs {
    /// The environment's settings (EPOCHS, BATCH_SIZE, ...) with the flags over them, each
    /// checked as its variable is.
    pub fn settings(&self) -> Result<TrainSettings> {
        let text = |value: Option<String>, flag: &'static str| value.map(|v| (flag, v));
        let flag = |variable: &'static str| match variable {
            "EPOCHS" => text(self.epochs.map(|v| v.to_string()), "--epochs"),
            "STEPS_PER_EPOCH" => text(
                self.steps_per_epoch.map(|v| v.to_string()),
                "--steps-per-epoch",
            ),
            "BATCH_SIZE" => text(self.batch_size.map(|v| v.to_string()), "--batch-size"),
            "LEARNING_RATE" => text(self.learning_rate.map(|v| v.to_string()), "--learning-rate"),
            "IMAGE_SIZE" => text(self.size.map(|v| v.to_string()), "--size"),
            "CHECKPOINT_DIR" => text(
                self.checkpoint_dir
                    .as_ref()
                    .map(|v| v.display().to_string()),
                "--checkpoint-dir",
            ),
            _ => None,
        };
        Ok(TrainSettings::resolve(
            |name| std::env::var(name).ok(),
            flag,
        )?)
    }

    /// The loop's configuration: the settings' run with this command's seed, time limit,
    /// moving average and precision.
    pub fn train_config(&self, settings: &TrainSettings) -> TrainConfig {
        TrainConfig {
            seed: self.seed,
            time_limit: self.time_limit.map(std::time::Duration::from_secs),
            ema_decay: (self.ema > 0.0).then_some(self.ema),
            precision: match self.float {
                FloatArg::Mixed => TrainingPrecision::MixedF16,
                FloatArg::F32 | FloatArg::F16 | FloatArg::Bf16 => TrainingPrecision::Uniform,
            },
            objective: match self.objective {
                ObjectiveArg::Flow => Objective::Flow,
                ObjectiveArg::Autoencoder => Objective::Autoencoder,
                ObjectiveArg::Decoder => Objective::Decoder,
                ObjectiveArg::Guidance => Objective::Guidance,
                ObjectiveArg::Steps => Objective::Steps,
            },
            autoencoder_crop: self.crop,
            adversarial: self.adversarial,
            latent_reuse: self.latent_reuse as usize,
            learn_layout: self.layout,
            ..settings.train_config()
        }
    }

    /// The shape of a fresh model, checked before it is made.
    pub fn model_config(&self) -> Result<ModelConfig> {
        let preset = ModelConfig::preset(&self.network).expect("clap checked the name");
        let config = ModelConfig {
            base_channels: self.base_channels.unwrap_or(preset.base_channels),
            ..preset
        };
        config
            .validate()
            .map_err(|e| anyhow::anyhow!("--base-channels: {e}"))?;
        Ok(config)
    }

    /// The device, configured for `--float`.
    pub fn device(&self) -> Result<Device> {
        let mut device = self.backend.device()?;
        let float = match self.float {
            FloatArg::F32 | FloatArg::Mixed => FloatDType::F32,
            FloatArg::F16 => FloatDType::F16,
            FloatArg::Bf16 => FloatDType::BF16,
        };
        device.configure(float).map_err(|e| {
            anyhow::anyhow!(
                "the {} backend cannot train in {float:?}: {e:?}",
                self.backend.name()
            )
        })?;
        Ok(device)
    }
}
