//! IOThreads (`iothread.c`): named threads, each running its own
//! [`AioContext`] in a `poll(true)` loop, created and destroyed at run time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::context::{AioContext, set_current_aio_context};

/// `IOTHREAD_POLL_MAX_NS_DEFAULT`: IOThreads busy-poll up to 32 µs.
pub const IOTHREAD_POLL_MAX_NS_DEFAULT: i64 = 32768;

/// The properties of `-object iothread,...`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoThreadParams {
    /// `poll-max-ns` (0 disables busy polling).
    pub poll_max_ns: i64,
    /// `poll-grow` (0 = default ×2).
    pub poll_grow: i64,
    /// `poll-shrink` (0 = reset to 0).
    pub poll_shrink: i64,
    /// `thread-pool-min`.
    pub thread_pool_min: usize,
    /// `thread-pool-max`.
    pub thread_pool_max: usize,
}

impl Default for IoThreadParams {
    fn default() -> Self {
        IoThreadParams {
            poll_max_ns: IOTHREAD_POLL_MAX_NS_DEFAULT,
            poll_grow: 0,
            poll_shrink: 0,
            thread_pool_min: 0,
            thread_pool_max: crate::thread_pool::THREAD_POOL_MAX_THREADS_DEFAULT,
        }
    }
}

/// An IOThread object.
pub struct IoThread {
    id: String,
    ctx: Arc<AioContext>,
    running: Arc<AtomicBool>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
    thread_id: std::thread::ThreadId,
    /// The host's id of the thread (`gettid()`), as `info iothreads` and
    /// `query-iothreads` show it.
    native_tid: i32,
}

impl std::fmt::Debug for IoThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IoThread").field("id", &self.id).finish()
    }
}

static REGISTRY: Mutex<Vec<(String, Weak<IoThread>)>> = Mutex::new(Vec::new());

/// Errors creating an IOThread.
#[derive(Debug, thiserror::Error)]
pub enum IoThreadError {
    /// An IOThread with this id exists.
    #[error("attempt to add duplicate property '{0}' to object (type 'container')")]
    DuplicateId(String),
    /// Invalid thread-pool bounds.
    #[error("thread-pool-min ({0}) must be <= thread-pool-max ({1}), and max > 0")]
    BadPoolParams(usize, usize),
    /// A negative `poll-max-ns`, `poll-grow` or `poll-shrink` (the
    /// property name is the field; QEMU's message).
    #[error("{0} value must be in range [0, 9223372036854775807]")]
    BadPollParam(&'static str),
    /// Creating the context or thread failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// `iothread_set_poll_param`'s range check (QEMU rejects negative values
/// with an error instead of storing them).
fn check_poll_params(max_ns: i64, grow: i64, shrink: i64) -> Result<(), IoThreadError> {
    for (name, v) in [
        ("poll-max-ns", max_ns),
        ("poll-grow", grow),
        ("poll-shrink", shrink),
    ] {
        if v < 0 {
            return Err(IoThreadError::BadPollParam(name));
        }
    }
    Ok(())
}

impl IoThread {
    /// `-object iothread,id=<id>` with default parameters.
    pub fn new(id: &str) -> Result<Arc<IoThread>, IoThreadError> {
        Self::with_params(id, IoThreadParams::default())
    }

    /// Creates the context, spawns the thread `IO <id>` and waits until it
    /// runs (`iothread_complete`).
    pub fn with_params(id: &str, p: IoThreadParams) -> Result<Arc<IoThread>, IoThreadError> {
        Self::create(id, p, true)
    }

    /// An IOThread for the emulator's own use (QEMU: `iothread_create()`,
    /// which puts it under the internal object root): not visible to
    /// [`IoThread::by_id`] or the id registry, so a user's `-object
    /// iothread` may use the same id (the monitor's `mon_iothread`).
    pub fn new_internal(id: &str) -> Result<Arc<IoThread>, IoThreadError> {
        Self::create(id, IoThreadParams::default(), false)
    }

    fn create(
        id: &str,
        p: IoThreadParams,
        user_visible: bool,
    ) -> Result<Arc<IoThread>, IoThreadError> {
        check_poll_params(p.poll_max_ns, p.poll_grow, p.poll_shrink)?;
        if p.thread_pool_max == 0 || p.thread_pool_min > p.thread_pool_max {
            return Err(IoThreadError::BadPoolParams(
                p.thread_pool_min,
                p.thread_pool_max,
            ));
        }
        let mut reg = REGISTRY.lock();
        reg.retain(|(_, w)| w.strong_count() > 0);
        if user_visible && reg.iter().any(|(n, _)| n == id) {
            return Err(IoThreadError::DuplicateId(id.to_owned()));
        }
        let ctx = AioContext::new(id)?;
        ctx.set_poll_params(p.poll_max_ns, p.poll_grow, p.poll_shrink);
        let running = Arc::new(AtomicBool::new(true));
        let (tx, rx) = std::sync::mpsc::channel();
        let c = Arc::clone(&ctx);
        let r = Arc::clone(&running);
        let handle = std::thread::Builder::new()
            .name(format!("IO {id}"))
            .spawn(move || {
                set_current_aio_context(&c);
                let _ = tx.send((
                    std::thread::current().id(),
                    rustix::thread::gettid().as_raw_nonzero().get(),
                ));
                while r.load(Ordering::Acquire) {
                    if let Err(e) =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| c.poll(true)))
                    {
                        eprintln!(
                            "ferrite: IOThread callback panicked: {}",
                            crate::main_loop::panic_message(&e)
                        );
                    }
                }
            })?;
        let (thread_id, native_tid) = rx.recv().expect("IOThread started");
        ctx.thread_pool()
            .set_params(p.thread_pool_min, p.thread_pool_max);
        let t = Arc::new(IoThread {
            id: id.to_owned(),
            ctx,
            running,
            handle: Mutex::new(Some(handle)),
            thread_id,
            native_tid,
        });
        if user_visible {
            reg.push((id.to_owned(), Arc::downgrade(&t)));
        }
        Ok(t)
    }

    /// Looks up a live IOThread by id (`iothread_by_id`).
    pub fn by_id(id: &str) -> Option<Arc<IoThread>> {
        REGISTRY
            .lock()
            .iter()
            .find(|(n, _)| n == id)
            .and_then(|(_, w)| w.upgrade())
    }

    /// The user-visible IOThreads (`-object iothread`), in creation order
    /// (QEMU: the `iothread` children of `/objects`, as `query-iothreads`
    /// walks them). Internal ones ([`IoThread::new_internal`]) are not
    /// listed, as QEMU does not list its `mon_iothread`.
    pub fn all() -> Vec<Arc<IoThread>> {
        REGISTRY
            .lock()
            .iter()
            .filter_map(|(_, w)| w.upgrade())
            .collect()
    }

    /// The host thread id (`gettid()`).
    pub fn native_thread_id(&self) -> i32 {
        self.native_tid
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `iothread_get_aio_context`.
    pub fn ctx(&self) -> &Arc<AioContext> {
        &self.ctx
    }

    /// The thread's id.
    pub fn thread_id(&self) -> std::thread::ThreadId {
        self.thread_id
    }

    /// Sets `poll-max-ns`, `poll-grow`, `poll-shrink` at run time
    /// (`qom-set`). A negative value is refused with QEMU's error and
    /// changes nothing.
    pub fn set_poll_params(
        &self,
        max_ns: i64,
        grow: i64,
        shrink: i64,
    ) -> Result<(), IoThreadError> {
        check_poll_params(max_ns, grow, shrink)?;
        self.ctx.set_poll_params(max_ns, grow, shrink);
        Ok(())
    }

    /// `iothread_stop`: a oneshot BH in the IOThread clears `running`, then
    /// the thread is joined. Idempotent.
    ///
    /// # Panics
    /// If called from the IOThread itself.
    pub fn stop(&self) {
        assert_ne!(
            std::thread::current().id(),
            self.thread_id,
            "iothread_stop from inside the IOThread"
        );
        let Some(h) = self.handle.lock().take() else {
            return;
        };
        let r = Arc::clone(&self.running);
        self.ctx
            .bh_schedule_oneshot_named("iothread_stop_bh", move || {
                r.store(false, Ordering::Release)
            });
        let _ = h.join();
        // By identity: an internal IOThread may share its id with a user's.
        REGISTRY
            .lock()
            .retain(|(_, w)| !std::ptr::eq(w.as_ptr(), self));
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if std::thread::current().id() != self.thread_id {
            self.stop();
        }
    }
}
