//! WAL checkpoints on a thread of their own.
//!
//! A checkpoint copies committed pages from the WAL into the database file and syncs both.
//! SQLite's automatic checkpoint runs inside the commit that crosses the threshold, so the
//! writer (and the ingest behind it) would wait for that copying and its fsync. Here the
//! writer only nudges this thread after each commit; the thread runs `PASSIVE` checkpoints,
//! which never block the writer or readers. Should it fall behind (the WAL file grows past
//! [`WAL_LIMIT_BYTES`]), the writer checkpoints itself, waiting, so the WAL stays bounded.

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;

/// WAL size at which the writer stops leaving checkpoints to the thread.
const WAL_LIMIT_BYTES: u64 = 512 * 1024 * 1024;

/// The checkpoint thread and the writer's handle on it.
pub(super) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    wal: PathBuf,
}

impl Checkpointer {
    /// Start the thread for the database at `path`. Without a thread (it could not be
    /// spawned) the writer checkpoints by itself once the WAL reaches the limit.
    pub fn start(path: &Path) -> Checkpointer {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let (nudge, rx) = sync_channel(1);
        let db = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&db, rx));
        match thread {
            Ok(t) => Checkpointer {
                nudge: Some(nudge),
                thread: Some(t),
                wal: wal.into(),
            },
            Err(e) => {
                tracing::warn!(error = %e, "no checkpoint thread; the writer will checkpoint");
                Checkpointer {
                    nudge: None,
                    thread: None,
                    wal: wal.into(),
                }
            }
        }
    }

    /// Tell the thread a commit happened; checkpoint here if the WAL has grown too big.
    pub fn committed(&self, writer: &Connection) -> rusqlite::Result<()> {
        if let Some(n) = &self.nudge {
            // Full means a checkpoint is already due: nothing to add.
            if let Err(TrySendError::Disconnected(())) = n.try_send(()) {
                tracing::warn!("checkpoint thread stopped; the writer will checkpoint");
            }
        }
        let size = std::fs::metadata(&self.wal).map_or(0, |m| m.len());
        if size > WAL_LIMIT_BYTES {
            // RESTART waits for the thread's checkpoint and for readers of old frames, so
            // the next commit starts the WAL from its beginning.
            writer.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))?;
        }
        Ok(())
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current checkpoint.
        self.nudge = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(db: &Path, nudges: Receiver<()>) {
    let conn = match Connection::open(db).and_then(|c| {
        c.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(c)
    }) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(db = %db.display(), error = %e, "checkpoint thread could not open the database");
            return;
        }
    };
    while nudges.recv().is_ok() {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(db = %db.display(), error = %e, "checkpoint failed; will retry after the next commit");
        }
    }
}
