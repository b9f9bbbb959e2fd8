//! `designer`: generate designs, render scenes, train and evaluate the generator from the shell.
//! Each subcommand parses its flags (`args`) and makes one call into the libraries: the serving
//! core, the scene engine or training.

mod args;
mod bars;

use anyhow::{Context, Result, bail};
use args::{
    Backend, Cli, Command, EdgesArgs, EvalArgs, ExportArgs, ExportFormat, GenerateArgs, ScenesArgs,
    SheetArgs, SourceArgs, TrainArgs, WeightsArg,
};
use bars::Bars;
use clap::Parser;
use designer_core::image::from_base64;
use designer_core::sheet;
use designer_core::weights::Weights;
use designer_core::{DesignRequest, Designer, RoomType, Style};
use designer_scene::{SceneEngine, bulk, catalog};
use designer_train::checkpoint::Checkpoint;
use designer_train::config::TrainSettings;
use designer_train::dataset::{ExampleSource, LabelledFolder};
use designer_train::download::{DownloadConfig, UrlSource};
use designer_train::eval::{EvalPlan, evaluate_models};
use designer_train::run::{EpochEnd, RunObserver, RunPlan, Start, run};
use designer_train::scenes::{ScenePool, SceneSource, write_renders};
use designer_train::train::StepReport;
use designer_train::{interop, shuffle};
use image::RgbImage;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// A failure is one line (with its causes), however RUST_BACKTRACE is set: a user's mistake
/// is no crash, and the backtrace would only hide the message.
fn main() -> ExitCode {
    match dispatch(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and each cause that its message does not already quote (the libraries' errors
/// often include their source's text).
fn one_line(error: &anyhow::Error) -> String {
    let mut line = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Generate(args) => generate(args),
        Command::Train(args) => train(args),
        Command::Scenes(args) => scenes(args),
        Command::Eval(args) => eval(args),
        Command::Sheet(args) => sheet(args),
        Command::Info(args) => info(args),
        Command::Export(args) => export(args),
        Command::Edges(args) => edges(args),
    }
}

/// The weights at `path`, or the embedded default model (the one serving the default size).
fn load_weights(path: Option<&Path>) -> Result<Weights> {
    match path {
        Some(path) => {
            Weights::from_file(path).with_context(|| format!("loading {}", path.display()))
        }
        None => Weights::embedded_default().context("loading the embedded weights"),
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

fn load_scene_engine(catalog_root: &Path) -> Result<Arc<SceneEngine>> {
    let spinner = indicatif::ProgressBar::new_spinner().with_message("loading catalog models");
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let engine = SceneEngine::load(&catalog::read_all(catalog_root)?)?;
    spinner.finish_and_clear();
    eprintln!(
        "{} catalog pieces loaded ({} left out)",
        engine.pieces().len(),
        engine.skipped().len()
    );
    Ok(Arc::new(engine))
}

fn generate(args: GenerateArgs) -> Result<()> {
    let request = args.design_request()?;
    let mut designer = load_designer(&args.weights, request.size)?;
    if let Some(threads) = args.threads {
        designer = designer.with_threads(threads as usize);
    }
    let mut response = None;
    for run in 1..=args.repeat {
        let progress = Bars::bar(0, "generating");
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
    if let Some(photo) = &response.photo {
        let kept = match photo.keep {
            designer_core::request::Keep::Layout => "its layout",
            designer_core::request::Keep::Colours => "its colours",
            designer_core::request::Keep::Both => "its layout and colours",
        };
        eprintln!(
            "  from the photo ({} x {}, {}), keeping {kept}",
            photo.width, photo.height, photo.fit
        );
    }
    for path in written {
        eprintln!("  {}", path.display());
    }
    if let Some(path) = &args.tensors {
        write_atomically(path, &interop::sampled_tensors(&designer, &request)?)?;
        eprintln!("  {} (start and sampled tensors)", path.display());
    }
    Ok(())
}

/// The training source the flags name; `seed` seeds a render pool's rooms.
fn open_source(
    args: &SourceArgs,
    settings: &TrainSettings,
    seed: u64,
) -> Result<Box<dyn ExampleSource>> {
    let size = settings.image_size;
    if let Some(folder) = &args.data {
        let capacity = shuffle::capacity_for(settings.batch_size);
        return Ok(Box::new(LabelledFolder::open_buffered(
            folder, size, capacity,
        )?));
    }
    if let Some(root) = &args.catalog {
        let engine = load_scene_engine(root)?;
        if args.pool > 0 {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            let threads = args
                .render_threads
                .unwrap_or(cores.saturating_sub(2).max(1));
            return Ok(Box::new(ScenePool::new(
                engine, size, args.pool, threads, seed,
            )?));
        }
        return Ok(Box::new(SceneSource::new(engine, size)?));
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

/// Training's progress: a bar of steps, an epoch line after each epoch, and the losses
/// appended to `--metrics`.
struct TrainBars {
    bars: Bars,
    metrics: Option<std::fs::File>,
    last_loss: f32,
    /// Downloads counted at the last epoch line.
    fetches_before: u64,
}

impl RunObserver for TrainBars {
    fn step(&mut self, report: &StepReport) {
        if let Some(loss) = report.loss {
            self.last_loss = loss;
            if let Some(file) = self.metrics.as_mut() {
                let phases = report.phases;
                let mut line = serde_json::json!({"step": report.step, "loss": loss, "images_per_second": report.images_per_second, "seconds": report.seconds,
                    "data_seconds": phases.data, "record_seconds": phases.record, "read_seconds": phases.read});
                if let Some(critic) = report.critic_loss {
                    line["critic_loss"] = critic.into();
                }
                let _ = writeln!(file, "{line}");
            }
        }
        if let Some(bar) = self.bars.current() {
            bar.set_message(format!(
                "loss {:.4} {:.0} img/s",
                self.last_loss, report.images_per_second
            ));
            bar.set_position(report.step);
        }
    }

    fn epoch(&mut self, end: &EpochEnd) {
        // Downloading sources say how many fetches the epoch made.
        let fetches = match end.source.fetches() {
            Some(total) => {
                let epoch = total - self.fetches_before;
                self.fetches_before = total;
                format!(", downloads: {epoch}")
            }
            None => String::new(),
        };
        self.bars.println(&format!(
            "epoch {}/{}: step {}, loss {:.4}, skipped items: {}{fetches}, checkpoint {}",
            end.epoch,
            end.epochs,
            end.step,
            self.last_loss,
            end.source.skipped(),
            end.saved
        ));
    }
}

fn train(args: TrainArgs) -> Result<()> {
    let settings = args.settings()?;
    let fresh = args.model_config()?;
    let device = args.device()?;
    let checkpoint = if args.resume {
        Checkpoint::load(&settings.checkpoint_dir)
            .with_context(|| format!("resuming from {}", settings.checkpoint_dir.display()))?
    } else {
        None
    };
    let resumed_at = checkpoint.as_ref().map_or(0, |c| c.state.step);
    // A pool resumed at a later step renders other rooms than the run's start did.
    let mut source = open_source(&args.source, &settings, args.seed ^ resumed_at)?;
    let start = match (checkpoint, &args.init) {
        (Some(checkpoint), _) => {
            eprintln!(
                "resuming at step {} from {}",
                checkpoint.state.step,
                settings.checkpoint_dir.display()
            );
            Start::Resume(checkpoint)
        }
        (None, Some(path)) => Start::Weights(load_weights(Some(path))?),
        (None, None) => {
            if args.resume {
                eprintln!(
                    "no checkpoint in {} yet: starting fresh",
                    settings.checkpoint_dir.display()
                );
            }
            match &args.autoencoder {
                Some(path) => Start::OverAutoencoder(fresh, load_weights(Some(path))?),
                None => Start::Fresh(fresh),
            }
        }
    };
    let metrics = match &args.metrics {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("--metrics {}: cannot open it", path.display()))?,
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
    let plan = RunPlan {
        config: args.train_config(&settings),
        steps_per_epoch: settings.steps_per_epoch,
        max_steps: None,
        name: args.name.clone(),
        export_trained: args.out_trained.is_some(),
        teacher: match &args.teacher {
            Some(path) => Some(load_weights(Some(path))?),
            None => None,
        },
    };
    let bar = Bars::bar(settings.total_steps(), "training");
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {pos}/{len} {elapsed_precise} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(resumed_at);
    let mut observer = TrainBars {
        bars: Bars::showing(bar),
        metrics,
        last_loss: f32::NAN,
        fetches_before: 0,
    };
    let dir = &settings.checkpoint_dir;
    let outcome = run(
        start,
        device,
        &plan,
        source.as_mut(),
        &mut |checkpoint| Ok(checkpoint.save(dir)?.display().to_string()),
        &mut observer,
    )?;
    observer.bars.finish();
    if !outcome.finished {
        eprintln!(
            "time limit reached at step {}; `--resume` continues",
            outcome.step
        );
    }
    if let (Some(path), Some(bytes)) = (&args.out_trained, &outcome.trained_weights) {
        save_weights(path, bytes)?;
    }
    save_weights(&args.out, &outcome.weights)
}

/// Writes a sheet and says what its rows and columns are.
fn save_sheet(sheet: &RgbImage, path: &Path, layout: &str) -> Result<()> {
    sheet
        .save(path)
        .with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {} ({layout})", path.display());
    Ok(())
}

/// What a sheet of every room type in every style shows.
fn label_grid() -> String {
    format!(
        "rows: {}; columns: {}",
        RoomType::allowed(),
        Style::allowed()
    )
}

fn scenes(args: ScenesArgs) -> Result<()> {
    if !(designer_scene::MIN_SIZE..=designer_scene::MAX_SIZE).contains(&args.size) {
        bail!(
            "--size {} is outside {}..={}",
            args.size,
            designer_scene::MIN_SIZE,
            designer_scene::MAX_SIZE
        );
    }
    let engine = load_scene_engine(&args.catalog)?;
    if let Some(dir) = &args.subset {
        let libraries = catalog::read_all(&args.catalog)?;
        for (file, kept) in designer_scene::write_catalog_subset(&libraries, &engine, dir)? {
            let bytes = std::fs::metadata(&file).map_or(0, |m| m.len());
            eprintln!("wrote {} ({kept} pieces, {bytes} bytes)", file.display());
        }
        return Ok(());
    }
    let mut bars = Bars::default();
    if let Some(path) = &args.sheet {
        let sheet = bulk::sheet(&engine, args.size, args.seed, &mut bars)?;
        bars.finish();
        return save_sheet(&sheet, path, &label_grid());
    }
    let out = args
        .out
        .as_ref()
        .expect("clap requires --out, --sheet or --subset");
    let started = std::time::Instant::now();
    let written = write_renders(&engine, out, args.count, args.size, args.seed, &mut bars)?;
    bars.finish();
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "wrote {written} renders to {} in {seconds:.1} s ({:.1} renders/s)",
        out.display(),
        written as f64 / seconds
    );
    Ok(())
}

fn eval(args: EvalArgs) -> Result<()> {
    let engine = load_scene_engine(&args.catalog)?;
    let mut designers = vec![load_designer(&args.weights, args.sampling.size)?];
    for path in &args.also {
        designers.push(load_designer(
            &WeightsArg {
                weights: Some(path.clone()),
                backend: args.weights.backend,
            },
            args.sampling.size,
        )?);
    }
    let plan = EvalPlan {
        train_per_label: args.train_per_label,
        test_per_label: args.test_per_label,
        generated_per_label: args.generated_per_label,
        epochs: args.epochs,
        restyle_photos: args.restyle_photos,
        like: args.sampling.request(RoomType::ALL[0], Style::ALL[0], 1, 0),
        also_guidance: args.also_guidance,
    };
    let mut bars = Bars::default();
    let reports = evaluate_models(&engine, &designers, &plan, &mut bars)?;
    bars.finish();
    match (args.json, reports.as_slice()) {
        (true, [report]) => println!("{}", serde_json::to_string_pretty(report)?),
        (true, reports) => println!("{}", serde_json::to_string_pretty(reports)?),
        (false, reports) => {
            for report in reports {
                println!("{report}");
            }
        }
    }
    Ok(())
}

fn sheet(args: SheetArgs) -> Result<()> {
    let designer = load_designer(&args.weights, args.sampling.size)?;
    let like = args
        .sampling
        .request(RoomType::ALL[0], Style::ALL[0], 1, args.seed);
    let mut bars = Bars::default();
    let (sheet, layout) = match args.restyle {
        None => (
            sheet::designs(&designer, &like, args.seed, &mut bars)?,
            label_grid(),
        ),
        Some(count) => {
            let photos = restyle_photos(&args.catalog, count, like.size)?;
            let like = DesignRequest {
                keep: Some(designer_core::request::Keep::Layout),
                ..like
            };
            let sheet = sheet::restyles(
                &designer,
                &photos,
                &RESTYLE_STYLES,
                &like,
                args.seed,
                &mut bars,
            )?;
            let styles: Vec<&str> = RESTYLE_STYLES.iter().map(|s| s.name()).collect();
            let rows: Vec<&str> = photos.iter().map(|(_, room)| room.name()).collect();
            let layout = format!(
                "rows: held-out renders of a {}; columns: the photo, its edges, {}",
                rows.join(", "),
                styles.join(", ")
            );
            (sheet, layout)
        }
    };
    bars.finish();
    save_sheet(&sheet, &args.out, &layout)
}

/// The styles of a restyle sheet's columns: four far apart.
const RESTYLE_STYLES: [Style; 4] = [
    Style::Scandinavian,
    Style::Industrial,
    Style::Bohemian,
    Style::ArtDeco,
];

/// `count` renders of scenes no training run draws (seeds from 2^61: training draws seeds
/// uniformly over u64, so about one in eight million), going round the room types, in the
/// modern style, `size` pixels square: stand-ins for a person's photos.
fn restyle_photos(catalog: &Path, count: usize, size: u32) -> Result<Vec<(RgbImage, RoomType)>> {
    let engine = load_scene_engine(catalog)?;
    let jobs = (0..count).map(|i| {
        let room = RoomType::ALL[i % RoomType::ALL.len()];
        (room, Style::Modern, (1u64 << 61) + i as u64)
    });
    Ok(bulk::render_many(&engine, jobs, size)?
        .into_iter()
        .map(|render| (render.image, render.scene.room_type))
        .collect())
}

fn export(args: ExportArgs) -> Result<()> {
    let weights = load_weights(args.weights.as_deref())?;
    match args.format {
        ExportFormat::Designer => {
            save_weights(&args.out, &weights.encoded_as(args.precision.into())?)
        }
        ExportFormat::Safetensors => {
            let bytes = interop::weights_to_safetensors(&weights, args.precision.into())?;
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

fn edges(args: EdgesArgs) -> Result<()> {
    let bytes = std::fs::read(&args.photo)
        .with_context(|| format!("cannot read {}", args.photo.display()))?;
    let photo = designer_core::image::decode_bounded(&bytes)
        .with_context(|| format!("{} is not a usable photo", args.photo.display()))?;
    let side = args.size;
    let pixels = designer_core::image::rgb_to_tensor(&designer_core::image::square(&photo, side));
    let map = designer_core::layout::edge_map(&pixels, side as usize, side as usize);
    let picture = image::GrayImage::from_fn(side, side, |x, y| {
        image::Luma([(map[(y * side + x) as usize] * 255.0) as u8])
    });
    picture
        .save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let share = map.iter().sum::<f32>() / map.len() as f32;
    eprintln!(
        "wrote {} ({side} x {side}, {:.1} % of pixels on an edge)",
        args.out.display(),
        share * 100.0
    );
    Ok(())
}

fn info(args: WeightsArg) -> Result<()> {
    let designer = Designer::cpu(&load_weights(args.weights.as_deref())?)?;
    println!("{}", serde_json::to_string_pretty(&designer.describe())?);
    Ok(())
}
