//! Progress bars on stderr for the libraries' long work (indicatif).

use designer_core::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};

/// One bar per stage: a new stage clears the last one's bar.
#[derive(Default)]
pub struct Bars {
    bar: Option<ProgressBar>,
}

impl Bars {
    /// A bar of `total` units labelled `what`, for work the CLI drives itself.
    pub fn bar(total: u64, what: &str) -> ProgressBar {
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

    /// Shows `bar` as the current stage.
    pub fn showing(bar: ProgressBar) -> Self {
        Self { bar: Some(bar) }
    }

    /// Prints a line around the bar (also when stderr is no terminal: logs, CI).
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// The bar in progress, if a stage is.
    pub fn current(&self) -> Option<&ProgressBar> {
        self.bar.as_ref()
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn stage(&mut self, what: &str, total: u64) {
        self.finish();
        self.bar = Some(Self::bar(total, what));
    }

    fn set(&mut self, done: u64, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
        }
    }

    fn message(&mut self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_string());
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.finish();
    }
}
