//! Bottom halves against a reference model of QEMU's flag semantics
//! (`aio_bh_enqueue`, `qemu_bh_cancel`, `qemu_bh_delete`, `aio_bh_poll`):
//! random single-threaded sequences of schedule / schedule_idle / cancel /
//! delete / poll must produce the same callbacks, in the same order, with
//! the same progress results.

use std::sync::{Arc, Mutex};

use ferrite_aio::{AioContext, QemuBh};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Schedule(usize),
    ScheduleIdle(usize),
    Cancel(usize),
    Delete(usize),
    Poll,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0usize..4).prop_map(Op::Schedule),
        (0usize..4).prop_map(Op::ScheduleIdle),
        (0usize..4).prop_map(Op::Cancel),
        (0usize..4).prop_map(Op::Delete),
        Just(Op::Poll),
    ]
}

#[derive(Default, Clone, Copy)]
struct Flags {
    pending: bool,
    scheduled: bool,
    idle: bool,
    deleted: bool,
}

#[derive(Default)]
struct Model {
    flags: [Flags; 4],
    /// The BH stack, most recent push last.
    stack: Vec<usize>,
}

impl Model {
    fn enqueue(&mut self, i: usize, scheduled: bool, idle: bool, deleted: bool) {
        let f = &mut self.flags[i];
        if !f.pending {
            f.pending = true;
            self.stack.push(i);
        }
        f.scheduled |= scheduled;
        f.idle |= idle;
        f.deleted |= deleted;
    }

    fn poll(&mut self, log: &mut Vec<usize>) -> bool {
        let mut progress = false;
        for i in std::mem::take(&mut self.stack).into_iter().rev() {
            let f = self.flags[i];
            self.flags[i].pending = false;
            self.flags[i].scheduled = false;
            self.flags[i].idle = false;
            if f.scheduled && !f.deleted {
                log.push(i);
                progress |= !f.idle;
            }
        }
        progress
    }
}

proptest! {
    #[test]
    fn bh_flags_match_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let ctx = AioContext::new("model").unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut bhs: Vec<Option<QemuBh>> = (0..4)
            .map(|i| {
                let l = Arc::clone(&log);
                Some(ctx.bh_new("m", move || l.lock().unwrap().push(i)))
            })
            .collect();
        let mut model = Model::default();
        let mut model_log = Vec::new();
        for op in ops {
            match op {
                Op::Schedule(i) => {
                    if let Some(b) = &bhs[i] {
                        b.schedule();
                        model.enqueue(i, true, false, false);
                    }
                }
                Op::ScheduleIdle(i) => {
                    if let Some(b) = &bhs[i] {
                        b.schedule_idle();
                        model.enqueue(i, true, true, false);
                    }
                }
                Op::Cancel(i) => {
                    if let Some(b) = &bhs[i] {
                        b.cancel();
                        model.flags[i].scheduled = false;
                    }
                }
                Op::Delete(i) => {
                    if bhs[i].take().is_some() {
                        model.enqueue(i, false, false, true);
                    }
                }
                Op::Poll => {
                    let expected = model.poll(&mut model_log);
                    let got = ctx.poll(false);
                    prop_assert_eq!(got, expected);
                    prop_assert_eq!(&*log.lock().unwrap(), &model_log);
                }
            }
        }
        let expected = model.poll(&mut model_log);
        prop_assert_eq!(ctx.poll(false), expected);
        prop_assert_eq!(&*log.lock().unwrap(), &model_log);
    }
}
