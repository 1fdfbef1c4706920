//! Live ingest: turns file-system changes in `LogFiles/` into index updates.
//!
//! One thread owns the loop. File events (inotify, or polling where inotify
//! sees nothing, e.g. gcsfuse or NFS mounts) are debounced, mapped to run ids
//! and applied with [`Ingestor::sync_runs`] in one commit per burst, at most
//! one every [`COMMIT_EVERY`], so a log that lands is searchable a debounce
//! interval later, or at the next commit when logs land faster. The same loop indexes
//! last lines that have become quiet, and runs a periodic reconcile of the
//! whole folder that repairs anything an event missed. Which change a file
//! went through (grown, replaced, deleted) is the ingest layer's decision, so
//! every path into the index shares it.

mod mounts;
mod poll;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
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

/// Changes are committed at most this often; what lands in between is
/// gathered into the next commit. Each commit has a fixed cost (a new
/// segment with its 8 MB term table, files written and synced, later
/// merges, readers reopened), and with a log landing every 100 ms, one
/// commit per log spent more CPU on that than on indexing the lines.
const COMMIT_EVERY: Duration = Duration::from_millis(250);

/// A running watch loop; stops when [`Watcher::stop`] is called or dropped.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Watcher {
    pub fn start(ingestor: Arc<Ingestor>, config: WatchConfig) -> std::io::Result<Watcher> {
        Watcher::start_with(ingestor, config, open_inotify)
    }

    /// As [`Watcher::start`], with `open` in place of opening the inotify
    /// watcher (tests make it fail).
    fn start_with(
        ingestor: Arc<Ingestor>,
        config: WatchConfig,
        open: OpenInotify,
    ) -> std::io::Result<Watcher> {
        let stop = Arc::new(AtomicBool::new(false));
        // The folder is watched before this returns, so that a file landing
        // right after (during the start-up scan) is seen.
        let watch = Loop::new(ingestor, config, stop.clone(), open);
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
enum EventSource {
    Inotify(#[allow(dead_code)] InotifyDebouncer),
    Poll(poll::Poller),
    Off,
}

type InotifyDebouncer = Debouncer<RecommendedWatcher, RecommendedCache>;

/// Opens an inotify watch of a folder whose debounced events go to a sender.
type OpenInotify =
    fn(&Path, Duration, Sender<DebounceEventResult>) -> notify::Result<InotifyDebouncer>;

fn open_inotify(
    dir: &Path,
    debounce: Duration,
    events: Sender<DebounceEventResult>,
) -> notify::Result<InotifyDebouncer> {
    let mut d = new_debouncer(debounce, None, events)?;
    d.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(d)
}

/// The source a configured mode starts with, `network` being whether the
/// folder is on a network or FUSE file system (only asked in `auto` mode).
fn chosen_mode(configured: WatchMode, network: bool) -> WatchMode {
    match configured {
        WatchMode::Auto if network => WatchMode::Poll,
        WatchMode::Auto => WatchMode::Inotify,
        m => m,
    }
}

/// What replaces inotify when it cannot be opened: polling when the
/// operator left the choice to runlogd, else nothing (the periodic reconcile
/// still repairs, and retries inotify); an explicit `inotify` is respected.
fn when_inotify_fails(configured: WatchMode) -> WatchMode {
    match configured {
        WatchMode::Auto => WatchMode::Poll,
        _ => WatchMode::None,
    }
}

struct Loop {
    ingestor: Arc<Ingestor>,
    config: WatchConfig,
    stop: Arc<AtomicBool>,
    events: Receiver<DebounceEventResult>,
    sender: Sender<DebounceEventResult>,
    source: EventSource,
    open_inotify: OpenInotify,
    next_reconcile: Option<Instant>,
    /// When changes were last applied (committed).
    last_apply: Option<Instant>,
}

impl Loop {
    fn new(
        ingestor: Arc<Ingestor>,
        config: WatchConfig,
        stop: Arc<AtomicBool>,
        open_inotify: OpenInotify,
    ) -> Loop {
        let (sender, events) = channel();
        let next_reconcile = reconcile_every(&config).map(|d| Instant::now() + d);
        let mut l = Loop {
            ingestor,
            config,
            stop,
            events,
            sender,
            source: EventSource::Off,
            open_inotify,
            next_reconcile,
            last_apply: None,
        };
        l.source = l.open_source();
        l
    }

    /// Starts watching `LogFiles/` in the configured mode; `Off` (with a
    /// warning) if the folder cannot be watched yet, retried at each reconcile.
    fn open_source(&self) -> EventSource {
        let dir = self.ingestor.log_dir().to_path_buf();
        let network = self.config.mode == WatchMode::Auto && mounts::is_network_fs(&dir);
        let mode = chosen_mode(self.config.mode, network);
        match mode {
            WatchMode::None => return EventSource::Off,
            WatchMode::Poll => {
                if self.config.mode == WatchMode::Auto {
                    tracing::info!(dir = %dir.display(), "log folder is on a network or FUSE file system; polling");
                }
                return self.poll_source(dir);
            }
            WatchMode::Inotify | WatchMode::Auto => {}
        }
        let debounce = Duration::from_millis(self.config.debounce_ms);
        let error = match (self.open_inotify)(&dir, debounce, self.sender.clone()) {
            Ok(d) => return EventSource::Inotify(d),
            Err(e) => e,
        };
        match when_inotify_fails(self.config.mode) {
            WatchMode::Poll => {
                tracing::warn!(error = %error, "inotify unavailable; polling instead");
                self.poll_source(dir)
            }
            _ => {
                tracing::warn!(error = %error, dir = %dir.display(), "cannot watch the log folder; relying on reconcile");
                EventSource::Off
            }
        }
    }

    fn poll_source(&self, dir: std::path::PathBuf) -> EventSource {
        let interval = Duration::from_millis(self.config.poll_interval_ms);
        EventSource::Poll(poll::Poller::new(dir, interval))
    }

    fn run(mut self) {
        while !self.stop.load(Ordering::Acquire) {
            if !self.turn() {
                break;
            }
        }
    }

    /// Waits for events (at most until something is due), then applies
    /// what changed: events, a poll, quiet last lines, a due reconcile.
    /// `false` once the event channel is closed.
    fn turn(&mut self) -> bool {
        let mut runs: BTreeMap<u64, Tail> = BTreeMap::new();
        let mut rescan = false;
        match self.events.recv_timeout(self.sleep()) {
            Ok(result) => {
                rescan |= gather(result, &mut runs);
                // Until the last commit is COMMIT_EVERY old, gather more.
                let due = self.last_apply.map(|t| t + COMMIT_EVERY);
                while let Some(wait) = due.and_then(|d| d.checked_duration_since(Instant::now())) {
                    match self.events.recv_timeout(wait) {
                        Ok(more) => rescan |= gather(more, &mut runs),
                        Err(_) => break,
                    }
                }
                while let Ok(more) = self.events.try_recv() {
                    rescan |= gather(more, &mut runs);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        if let EventSource::Poll(poller) = &mut self.source {
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
        true
    }

    fn sleep(&self) -> Duration {
        let now = Instant::now();
        let poll = match &self.source {
            EventSource::Poll(p) => Some(p.next_due()),
            _ => None,
        };
        [self.next_reconcile, self.ingestor.next_tail_due(), poll]
            .into_iter()
            .flatten()
            .map(|t| t.saturating_duration_since(now))
            .fold(MAX_SLEEP, Duration::min)
    }

    fn apply(&mut self, runs: BTreeMap<u64, Tail>) {
        let started = Instant::now();
        self.last_apply = Some(started);
        let list: Vec<(u64, Tail)> = runs.into_iter().collect();
        match self.ingestor.sync_runs(&list) {
            Ok(outcomes) => {
                for ((run_id, _), outcome) in list.iter().zip(outcomes) {
                    match outcome {
                        // Refused entries are logged once by the ingestor.
                        Outcome::Unchanged | Outcome::Missing | Outcome::Refused(_) => {}
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
        if matches!(self.source, EventSource::Off) && self.config.mode != WatchMode::None {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::LogIndex;
    use crate::parse::Parser;
    use crate::store::Store;

    /// A real ingestor over `root/LogFiles`, with its index and store on disk.
    fn ingestor(root: &Path) -> anyhow::Result<(Arc<Ingestor>, Arc<Store>, Arc<LogIndex>)> {
        let log_dir = root.join("LogFiles");
        std::fs::create_dir_all(&log_dir)?;
        let data = root.join("data");
        std::fs::create_dir_all(&data)?;
        let store = Arc::new(Store::open(&data)?);
        let index = Arc::new(LogIndex::open(&data.join("index"), 32 << 20)?);
        let parser = Arc::new(Parser::new(&[])?);
        let ingestor = Ingestor::new(
            crate::logfiles::LogFiles::new(log_dir, None),
            index.clone(),
            store.clone(),
            parser,
            Duration::ZERO,
        );
        Ok((Arc::new(ingestor), store, index))
    }

    /// Stands in for an inotify that cannot be opened. A real failure (the
    /// per-user limit on inotify instances or watches exhausted) cannot be
    /// produced here without lowering machine-wide limits under every other
    /// process, so the watcher is given this opener instead; it fails the way
    /// notify reports an exhausted watch limit.
    fn failing_inotify(
        _: &Path,
        _: Duration,
        _: Sender<DebounceEventResult>,
    ) -> notify::Result<InotifyDebouncer> {
        Err(notify::Error::new(notify::ErrorKind::MaxFilesWatch))
    }

    /// Polls quickly, never reconciles on its own, and takes last lines
    /// as they are: what gets indexed got there through the event source.
    fn config(mode: WatchMode) -> WatchConfig {
        WatchConfig {
            mode,
            poll_interval_ms: 0,
            debounce_ms: 10,
            quiet_ms: 0,
            reconcile_interval_secs: 0,
        }
    }

    fn lines_indexed(index: &LogIndex, run_id: u64) -> Option<u64> {
        index
            .snapshot()
            .run_meta(run_id)
            .ok()
            .flatten()
            .map(|m| m.lines)
    }

    #[test]
    fn the_mode_follows_the_setting_and_the_file_system() {
        use WatchMode::*;
        let cases = [
            ((Auto, false), Inotify),
            ((Auto, true), Poll),
            ((Inotify, false), Inotify),
            ((Inotify, true), Inotify),
            ((Poll, false), Poll),
            ((Poll, true), Poll),
            ((None, false), None),
            ((None, true), None),
        ];
        for ((configured, network), expected) in cases {
            assert_eq!(
                chosen_mode(configured, network),
                expected,
                "{configured:?}, network: {network}"
            );
        }
        assert_eq!(when_inotify_fails(Auto), Poll);
        assert_eq!(when_inotify_fails(Inotify), None);
    }

    #[test]
    fn in_auto_mode_a_failing_inotify_falls_back_to_polling() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let (ingestor, store, index) = ingestor(root.path())?;
        // On a network file system auto mode polls anyway, and this test
        // would prove nothing.
        assert!(!mounts::is_network_fs(ingestor.log_dir()));
        let watcher =
            Watcher::start_with(ingestor.clone(), config(WatchMode::Auto), failing_inotify)?;

        std::fs::write(
            ingestor.files().local(7),
            "[INFO] one\n[INFO] two\n[ERROR] three\n",
        )?;
        // Nothing else indexes: no reconcile, no request, no scan.
        let deadline = Instant::now() + Duration::from_secs(30);
        while lines_indexed(&index, 7).is_none() {
            assert!(Instant::now() < deadline, "the new log was never indexed");
            std::thread::sleep(Duration::from_millis(20));
        }
        watcher.stop();
        assert_eq!(lines_indexed(&index, 7), Some(3));
        assert_eq!(store.run(7)?.map(|r| r.lines_indexed), Some(3));
        Ok(())
    }

    #[test]
    fn a_failing_inotify_polls_only_in_auto_mode() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let (ingestor, store, index) = ingestor(root.path())?;
        assert!(!mounts::is_network_fs(ingestor.log_dir()));
        let stop = Arc::new(AtomicBool::new(false));

        // An explicit `inotify` is respected: no polling, only the reconcile.
        let mut explicit = Loop::new(
            ingestor.clone(),
            config(WatchMode::Inotify),
            stop.clone(),
            failing_inotify,
        );
        assert!(matches!(explicit.source, EventSource::Off));
        std::fs::write(ingestor.files().local(8), "[INFO] eight\n")?;
        // A poll at interval 0 would be due at once, and this turn would
        // index the log.
        explicit.turn();
        assert_eq!(lines_indexed(&index, 8), None);
        assert_eq!(store.run(8)?, None);
        explicit.reconcile();
        assert_eq!(lines_indexed(&index, 8), Some(1));

        // Auto mode polls instead.
        let mut auto = Loop::new(
            ingestor.clone(),
            config(WatchMode::Auto),
            stop,
            failing_inotify,
        );
        assert!(matches!(auto.source, EventSource::Poll(_)));
        std::fs::write(
            ingestor.files().local(9),
            "[INFO] nine\n[INFO] nine again\n",
        )?;
        auto.turn();
        assert_eq!(lines_indexed(&index, 9), Some(2));
        assert_eq!(store.run(9)?.map(|r| r.lines_indexed), Some(2));
        Ok(())
    }

    #[test]
    fn logs_landing_soon_after_a_commit_are_gathered_into_the_next() -> anyhow::Result<()> {
        let root = tempfile::tempdir()?;
        let (ingestor, _store, index) = ingestor(root.path())?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut l = Loop::new(
            ingestor.clone(),
            config(WatchMode::None),
            stop,
            failing_inotify,
        );
        // As if a commit had just been made.
        l.last_apply = Some(Instant::now());
        // Three logs land 20 ms apart, well inside COMMIT_EVERY; each is
        // announced as a finished write, as inotify would.
        let sender = l.sender.clone();
        let paths: Vec<_> = (1..=3).map(|run| ingestor.files().local(run)).collect();
        let writer = std::thread::spawn(move || -> std::io::Result<()> {
            for path in paths {
                std::fs::write(&path, "[INFO] a line\n")?;
                let event =
                    notify::Event::new(EventKind::Access(AccessKind::Close(AccessMode::Write)))
                        .add_path(path);
                let _ = sender.send(Ok(vec![DebouncedEvent::new(event, Instant::now())]));
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(())
        });
        // One turn: one commit, holding all three. Without the interval, the
        // turn committed the first log alone.
        assert!(l.turn());
        writer
            .join()
            .map_err(|_| anyhow::anyhow!("writer panicked"))??;
        for run in 1..=3 {
            assert_eq!(lines_indexed(&index, run), Some(1), "run {run}");
        }
        Ok(())
    }
}
