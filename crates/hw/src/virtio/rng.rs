//! virtio-rng, the entropy device (QEMU: `hw/virtio/virtio-rng.c`; virtio
//! v1.2 §5.4). One request queue; each chain's device-writable buffers are
//! filled with random bytes from an [`EntropySource`] (the host's, by
//! default: QEMU's `rng-builtin` backend uses the host's getrandom as well).
//!
//! Requests are processed when the driver notifies the queue: inside the
//! notification by default (unit tests), or, with
//! [`VirtioRng::with_context`], in a bottom half of an [`AioContext`] (the
//! board uses the main loop's), so that the vCPU's MMIO write only
//! schedules the work, as QEMU's `rng-builtin` backend fills requests from
//! a main-loop bottom half.

use std::fs::File;
use std::io::{self, Read};
use std::sync::{Arc, Weak};

use ferrite_aio::{AioContext, QemuBh};
use parking_lot::Mutex;

use super::queue::SplitQueue;
use super::{
    GuestMemory, VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_F_VERSION_1,
    VirtQueueConfig, VirtioDevice, VirtioInterrupt,
};

/// The virtio device ID of an entropy source.
pub const VIRTIO_ID_RNG: u32 = 4;
/// QueueNumMax the transport reports (QEMU's virtio-mmio always reports
/// `VIRTQUEUE_MAX_SIZE` for an existing queue).
pub const QUEUE_MAX: u16 = 1024;
/// Most bytes given to one request; a guest asking for more gets a partial
/// answer, which the specification allows.
pub const MAX_REQUEST: usize = 64 * 1024;

/// Where random bytes come from (QEMU: an `RngBackend`).
pub trait EntropySource: Send {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()>;
}

/// The host's entropy, from `/dev/urandom`.
#[derive(Debug)]
pub struct HostEntropy {
    file: File,
}

impl HostEntropy {
    /// Opens the host's random device.
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            file: File::open("/dev/urandom")?,
        })
    }
}

impl EntropySource for HostEntropy {
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.file.read_exact(buf)
    }
}

/// The part of the device a bottom half may run.
struct RngState {
    mem: Arc<dyn GuestMemory>,
    entropy: Box<dyn EntropySource>,
    queue: Option<SplitQueue>,
    interrupt: Option<VirtioInterrupt>,
}

/// The virtio-rng device.
pub struct VirtioRng {
    state: Arc<Mutex<RngState>>,
    /// The bottom half that serves the queue, with [`VirtioRng::with_context`].
    bh: Option<QemuBh>,
    max_sizes: [u16; 1],
}

impl std::fmt::Debug for VirtioRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtioRng")
            .field("active", &self.state.lock().queue.is_some())
            .field("deferred", &self.bh.is_some())
            .finish_non_exhaustive()
    }
}

impl VirtioRng {
    /// An entropy device reading guest rings through `mem`, serving
    /// requests inside the notification.
    pub fn new(mem: Arc<dyn GuestMemory>, entropy: Box<dyn EntropySource>) -> Self {
        Self {
            state: Arc::new(Mutex::new(RngState {
                mem,
                entropy,
                queue: None,
                interrupt: None,
            })),
            bh: None,
            max_sizes: [QUEUE_MAX],
        }
    }

    /// Serves requests in a bottom half of `ctx` instead: a notification
    /// only schedules it.
    pub fn with_context(mut self, ctx: &Arc<AioContext>) -> Self {
        let weak: Weak<Mutex<RngState>> = Arc::downgrade(&self.state);
        self.bh = Some(ctx.bh_new("virtio-rng", move || {
            if let Some(s) = weak.upgrade() {
                s.lock().process();
            }
        }));
        self
    }

    /// Serves the queue now, or schedules the bottom half that does.
    fn kick(&self) {
        match &self.bh {
            Some(bh) => bh.schedule(),
            None => self.state.lock().process(),
        }
    }
}

impl RngState {
    /// Serves every available request; on a ring error the device needs a reset.
    fn process(&mut self) {
        let (Some(q), Some(interrupt)) = (self.queue.as_mut(), self.interrupt.as_ref()) else {
            return;
        };
        let mem = &*self.mem;
        let mut used_any = false;
        let result = (|| {
            while let Some(chain) = q.pop(mem)? {
                let want = usize::try_from(chain.writable_len())
                    .unwrap_or(usize::MAX)
                    .min(MAX_REQUEST);
                let mut bytes = vec![0u8; want];
                let len = match self.entropy.fill(&mut bytes) {
                    Ok(()) => chain.write_all(mem, &bytes)?,
                    Err(e) => {
                        log::error!("virtio-rng: host entropy source failed: {e}");
                        0
                    }
                };
                q.push(mem, chain.head, len as u32)?;
                used_any = true;
            }
            Ok::<bool, super::queue::QueueError>(used_any && q.should_notify(mem)?)
        })();
        match result {
            Ok(true) => interrupt.notify_queue(),
            Ok(false) => {}
            Err(e) => {
                interrupt.set_needs_reset(&format!("virtio-rng: {e}"));
                self.queue = None;
            }
        }
    }
}

impl VirtioDevice for VirtioRng {
    fn device_id(&self) -> u32 {
        VIRTIO_ID_RNG
    }

    fn device_features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | (1 << VIRTIO_F_RING_INDIRECT_DESC)
            | (1 << VIRTIO_F_RING_EVENT_IDX)
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.max_sizes
    }

    fn config_len(&self) -> usize {
        0
    }

    fn read_config(&mut self, _offset: usize, _data: &mut [u8]) {}

    fn write_config(&mut self, _offset: usize, _data: &[u8]) {}

    fn activate(&mut self, features: u64, queues: &[VirtQueueConfig], interrupt: VirtioInterrupt) {
        {
            let mut st = self.state.lock();
            st.queue = queues
                .first()
                .filter(|q| q.ready)
                .map(|q| SplitQueue::new(q, features));
            st.interrupt = Some(interrupt);
        }
        // Buffers made available before DRIVER_OK are served too.
        self.kick();
    }

    fn queue_notify(&mut self, queue: u16) {
        if queue == 0 {
            self.kick();
        }
    }

    fn reset(&mut self) {
        let mut st = self.state.lock();
        st.queue = None;
        st.interrupt = None;
    }
}
