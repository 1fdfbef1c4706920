//! Live ingest: turns file-system changes in `LogFiles/` into index updates.
//!
//! One thread owns the loop. File events (inotify, or polling where inotify
//! sees nothing, e.g. gcsfuse or NFS mounts) are debounced, mapped to run ids
//! and applied with [`Ingestor::sync_runs`] in one commit per burst, so a log
//! that lands is searchable a debounce interval later. The same loop indexes
//! last lines that have become quiet, and runs a periodic reconcile of the
//! whole folder that repairs anything an event missed. Which change a file
//! went through (grown, replaced, deleted) is the ingest layer's decision, so
//! every path into the index shares it.

mod mounts;
mod poll;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{
    new_debouncer, DebounceEventResult, DebouncedEvent, Debouncer, RecommendedCache,
};

use crate::config::{WatchConfig, WatchMode};
use crate::ingest::{Ingestor, Outcome, Tail};
use crate::logfiles::run_id_from_file_name;

/// The longest the loop sleeps, so a stop request is seen promptly.
const MAX_SLEEP: Duration = Duration::from_millis(200);

/// A running watch loop; stops when [`Watcher::stop`] is called or dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(ingestor: Arc<Ingestor>, config: WatchConfig) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        // The folder is watched before this returns, so that a file landing
        // right after (during the start-up scan) is seen.
        let watch = Loop::new(ingestor, config, stop.clone());
        let thread = std::thread::Builder::new()
            .name("runlogd-watch".into())
            .spawn(move || watch.run())?;
        Ok(Watcher {
            stop,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("watch thread panicked");
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.halt();
    }
}

/// The event source in use; it is only held, and dropping it stops its threads.
enum Source {
    Inotify(#[allow(dead_code)] Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(poll::Poller),
    Off,
}

struct Loop {
    ingestor: Arc<Ingestor>,
    config: WatchConfig,
    stop: Arc<AtomicBool>,
    events: Receiver<DebounceEventResult>,
    sender: std::sync::mpsc::Sender<DebounceEventResult>,
    source: Source,
    next_reconcile: Option<Instant>,
}

impl Loop {
    fn new(ingestor: Arc<Ingestor>, config: WatchConfig, stop: Arc<AtomicBool>) -> Loop {
        let (sender, events) = channel();
        let next_reconcile = reconcile_every(&config).map(|d| Instant::now() + d);
        let mut l = Loop {
            ingestor,
            config,
            stop,
            events,
            sender,
            source: Source::Off,
            next_reconcile,
        };
        l.source = l.open_source();
        l
    }

    /// Starts watching `LogFiles/` in the configured mode; `Off` (with a
    /// warning) if the folder cannot be watched yet, retried at each reconcile.
    fn open_source(&self) -> Source {
        let dir = self.ingestor.log_dir().to_path_buf();
        let mode = match self.config.mode {
            WatchMode::Auto if mounts::is_network_fs(&dir) => {
                tracing::info!(dir = %dir.display(), "log folder is on a network or FUSE file system; polling");
                WatchMode::Poll
            }
            WatchMode::Auto => WatchMode::Inotify,
            m => m,
        };
        let debounce = Duration::from_millis(self.config.debounce_ms);
        let result = match mode {
            WatchMode::None => return Source::Off,
            WatchMode::Inotify | WatchMode::Auto => {
                new_debouncer(debounce, None, self.sender.clone()).and_then(|mut d| {
                    d.watch(&dir, RecursiveMode::NonRecursive)?;
                    Ok(Source::Inotify(d))
                })
            }
            WatchMode::Poll => return self.poll_source(dir),
        };
        match result {
            Ok(source) => source,
            Err(e) if self.config.mode == WatchMode::Auto => {
                tracing::warn!(error = %e, "inotify unavailable; polling instead");
                self.poll_source(dir)
            }
            Err(e) => {
                tracing::warn!(error = %e, dir = %dir.display(), "cannot watch the log folder; relying on reconcile");
                Source::Off
            }
        }
    }

    fn poll_source(&self, dir: std::path::PathBuf) -> Source {
        let interval = Duration::from_millis(self.config.poll_interval_ms);
        Source::Poll(poll::Poller::new(dir, interval))
    }

    fn run(mut self) {
        while !self.stop.load(Ordering::Acquire) {
            let mut runs: BTreeMap<u64, Tail> = BTreeMap::new();
            let mut rescan = false;
            match self.events.recv_timeout(self.sleep()) {
                Ok(result) => {
                    rescan |= gather(result, &mut runs);
                    while let Ok(more) = self.events.try_recv() {
                        rescan |= gather(more, &mut runs);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if let Source::Poll(poller) = &mut self.source {
                let before = runs.len();
                if let Err(e) = poller.poll(&mut runs) {
                    tracing::warn!(error = %e, "cannot poll the log folder");
                }
                crate::metrics::file_events(runs.len().saturating_sub(before) as u64);
            }
            for run_id in self.ingestor.due_tails() {
                runs.entry(run_id).or_insert(Tail::WhenQuiet);
            }
            if !runs.is_empty() {
                self.apply(runs);
            }
            let reconcile_due = self.next_reconcile.is_some_and(|t| Instant::now() >= t);
            if rescan || reconcile_due {
                self.reconcile();
            }
        }
    }

    fn sleep(&self) -> Duration {
        let now = Instant::now();
        let poll = match &self.source {
            Source::Poll(p) => Some(p.next_due()),
            _ => None,
        };
        [self.next_reconcile, self.ingestor.next_tail_due(), poll]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .fold(MAX_SLEEP, Duration::min)
    }

    fn apply(&self, runs: BTreeMap<u64, Tail>) {
        let started = Instant::now();
        let list: Vec<(u64, Tail)> = runs.into_iter().collect();
        match self.ingestor.sync_runs(&list) {
            Ok(outcomes) => {
                for ((run_id, _), outcome) in list.iter().zip(outcomes) {
                    match outcome {
                        Outcome::Unchanged | Outcome::Missing => {}
                        Outcome::Removed => tracing::info!(run_id, "log removed from the index"),
                        other => {
                            let mtime =
                                self.ingestor.files().source(*run_id).and_then(|p| {
                                    std::fs::metadata(p).and_then(|m| m.modified()).ok()
                                });
                            if let Some(mtime) = mtime {
                                crate::metrics::ingest_lag(mtime);
                            }
                            tracing::info!(
                            run_id,
                            change = ?other,
                            ms = started.elapsed().as_millis() as u64,
                            "log change indexed"
                            )
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "indexing file changes failed; the reconcile will retry")
            }
        }
    }

    fn reconcile(&mut self) {
        if matches!(self.source, Source::Off) && self.config.mode != WatchMode::None {
            self.source = self.open_source();
        }
        match self.ingestor.reconcile() {
            Ok(s) if s.indexed + s.appended + s.removed > 0 => {
                crate::metrics::reconcile_repairs(s.indexed, s.appended, s.removed);
                tracing::info!(
                    indexed = s.indexed,
                    appended = s.appended,
                    removed = s.removed,
                    "reconcile repaired the index"
                )
            }
            Ok(_) => tracing::debug!("reconcile found nothing to do"),
            Err(e) => tracing::error!(error = %e, "reconcile failed"),
        }
        self.next_reconcile = reconcile_every(&self.config).map(|d| Instant::now() + d);
    }
}

fn reconcile_every(config: &WatchConfig) -> Option<Duration> {
    (config.reconcile_interval_secs > 0)
        .then(|| Duration::from_secs(config.reconcile_interval_secs))
}

/// Adds the runs an event burst touched to `runs`; returns true when the
/// watcher asks for a full rescan (it lost events).
fn gather(result: DebounceEventResult, runs: &mut BTreeMap<u64, Tail>) -> bool {
    let events: Vec<DebouncedEvent> = match result {
        Ok(events) => events,
        Err(errors) => {
            for e in errors {
                tracing::warn!(error = %e, "file watch error");
            }
            return true;
        }
    };
    let mut rescan = false;
    for event in events {
        tracing::debug!(kind = ?event.kind, paths = ?event.paths, "file event");
        rescan |= event.need_rescan();
        let complete = matches!(
            event.kind,
            EventKind::Access(AccessKind::Close(AccessMode::Write))
                | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both))
        );
        if matches!(
            event.kind,
            EventKind::Access(AccessKind::Open(_) | AccessKind::Read)
        ) {
            continue;
        }
        for path in &event.paths {
            let Some(run_id) = run_of(path) else { continue };
            crate::metrics::file_events(1);
            let tail = runs.entry(run_id).or_insert(Tail::WhenQuiet);
            if complete {
                *tail = Tail::Complete;
            }
        }
    }
    rescan
}

fn run_of(path: &Path) -> Option<u64> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(run_id_from_file_name)
}
