//! Progress on stderr while a scan runs (pages, events scanned and matched, request rate, how far back
//! the scan has reached), and a one-line summary at the end.

use std::cell::Cell;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::query::TimeWindow;
use crate::time::Zone;

/// How far back Event history goes, for the percentage of a scan with no start time.
const HISTORY_DAYS: i64 = 90;

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Newest-first scans cover `newest` down to `oldest`; the time reached gives the fraction done.
    newest: DateTime<Utc>,
    oldest: DateTime<Utc>,
    zone: Zone,
    requests: Cell<u64>,
    pages: Cell<u64>,
    scanned: Cell<u64>,
    matched: Cell<u64>,
    reached: Cell<Option<DateTime<Utc>>>,
    regions: usize,
    /// Objects read from S3, and their bytes as listed.
    objects: Cell<(u64, u64)>,
}

impl Progress {
    /// `shown`: draw the bar and print the summary (stderr is a terminal, or --progress).
    pub fn new(shown: bool, window: TimeWindow, now: DateTime<Utc>, zone: Zone, regions: usize) -> Progress {
        let bar = shown.then(|| {
            let bar = ProgressBar::with_draw_target(Some(1000), ProgressDrawTarget::stderr_with_hz(8));
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{bar:20}] {percent:>3}% {msg}")
                    .expect("a valid template")
                    .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let newest = window.end.unwrap_or(now).min(now);
        let oldest = window.start.unwrap_or(now - chrono::Duration::days(HISTORY_DAYS));
        Progress {
            bar,
            started: Instant::now(),
            newest,
            oldest,
            zone,
            requests: Cell::new(0),
            pages: Cell::new(0),
            scanned: Cell::new(0),
            matched: Cell::new(0),
            reached: Cell::new(None),
            regions,
            objects: Cell::new((0, 0)),
        }
    }

    /// No bar and no summary.
    pub fn hidden() -> Progress {
        Progress::new(false, TimeWindow::default(), Utc::now(), Zone::Local, 0)
    }

    /// A request was sent (retries included).
    pub fn request(&self) {
        self.requests.set(self.requests.get() + 1);
    }

    pub fn page(&self) {
        self.pages.set(self.pages.get() + 1);
        self.redraw();
    }

    /// `count` events or records were read that say nothing of how far back the scan has reached
    /// (the ones a prefilter ruled out unparsed), as `count` calls of [`Progress::scanned`] with no time.
    pub fn scanned_many(&self, count: u64) {
        let before = self.scanned.get();
        self.scanned.set(before + count);
        if before / 1024 != (before + count) / 1024 {
            self.redraw();
        }
    }

    /// An event or record was read; `time` is how far back the (newest-first) scan has reached.
    pub fn scanned(&self, time: Option<DateTime<Utc>>) {
        self.scanned.set(self.scanned.get() + 1);
        if time.is_some() {
            self.reached.set(time);
        }
        if self.scanned.get() % 1024 == 0 {
            self.redraw();
        }
    }

    /// An object of S3 was read to its end.
    pub fn object(&self, bytes: u64) {
        let (objects, total) = self.objects.get();
        self.objects.set((objects + 1, total + bytes));
        self.redraw();
    }

    /// "N objects (X MiB)" once an object of S3 was read.
    fn objects_read(&self) -> Option<String> {
        let (objects, bytes) = self.objects.get();
        (objects > 0).then(|| format!("{objects} objects ({:.1} MiB)", bytes as f64 / (1024.0 * 1024.0)))
    }

    pub fn matched(&self) {
        self.matched.set(self.matched.get() + 1);
    }

    fn redraw(&self) {
        let Some(bar) = &self.bar else { return };
        let span = (self.newest - self.oldest).num_seconds().max(1);
        if let Some(reached) = self.reached.get() {
            let done = (self.newest - reached).num_seconds().clamp(0, span);
            // Events older than the assumed 90 days mean the history goes further back: the scan is
            // not done until it ends, so the bar never claims 100% on its own.
            bar.set_position(((done * 1000 / span) as u64).min(999));
        }
        let rate = self.requests.get() as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let back = self.reached.get().map(|t| format!(" · back to {}", self.zone.format_plain(t))).unwrap_or_default();
        if let Some(objects) = self.objects_read() {
            bar.set_message(format!("{objects} · {} scanned · {} matched", self.scanned.get(), self.matched.get()));
            return;
        }
        bar.set_message(format!(
            "{} pages · {} scanned · {} matched · {rate:.1} req/s{back}",
            self.pages.get(),
            self.scanned.get(),
            self.matched.get()
        ));
    }

    /// Shows `text` as the bar's message (a source's own state, such as an Athena query's).
    pub fn note(&self, text: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(text.to_owned());
        }
    }

    /// Runs `f` with the bar hidden, so that output written to the same terminal does not mix with it.
    /// Called at page ends, it also brings the figures up to date.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bar {
            Some(bar) => {
                let result = bar.suspend(f);
                self.redraw();
                result
            }
            None => f(),
        }
    }

    /// Clears the bar and, when shown, prints the summary line.
    pub fn finish(&self) {
        let Some(bar) = &self.bar else { return };
        bar.finish_and_clear();
        let pages = match (self.pages.get(), self.objects_read()) {
            (_, Some(objects)) => format!(" · {objects}"),
            (0, None) => String::new(),
            (n, None) => format!(" · {n} pages"),
        };
        let regions = match self.regions {
            0 => String::new(),
            1 => " · 1 region".to_owned(),
            n => format!(" · {n} regions"),
        };
        crate::error::say(format_args!(
            "{} matched of {} scanned{pages}{regions} · {:.1} s",
            self.matched.get(),
            self.scanned.get(),
            self.started.elapsed().as_secs_f64()
        ));
    }
}
