//! Background work that gives the CPU to request handling at once.
//!
//! Recording and the batch writer run beside the proxy's serving lanes on the same few cores.
//! At normal priority (or niced), Linux's scheduler lets a running background thread finish
//! its slice before a lane woken by a socket gets the core back: one writer commit or one
//! recording window in the way of a request shows as a millisecond or more in the proxy's p99.
//! Under `SCHED_IDLE` a thread runs only on a core nothing else wants, and a waking lane
//! preempts it at once. The work is not starved for long in practice: a lane waiting on its
//! sockets leaves the core idle. Where it would be (a saturated machine), the callers fall back
//! to normal priority: the recording queue, once full, is worked off on the lanes' own tasks,
//! and the writer writes at normal priority while its queue holds a full batch or more; the
//! recording thread itself returns to a niced normal priority while the queues it feeds hold
//! more than a small part of their byte budget.
//!
//! Elsewhere than Linux these are no-ops.

/// The calling thread runs as `SCHED_IDLE` from now on. False if the system refused, if it
/// would not let a thread come back to normal priority (see [`available`]), or if this is not
/// Linux; the thread then keeps its priority.
pub fn idle_this_thread() -> bool {
    available() && set_idle()
}

/// The calling thread back at normal priority (`SCHED_OTHER`, nice 0), after
/// [`idle_this_thread`].
pub fn normal_this_thread() {
    if let Err(error) = set_normal() {
        tracing::warn!(%error, "a thread could not return to normal priority");
    }
}

/// Whether background threads may yield: only where a thread that went `SCHED_IDLE` can come
/// back to normal priority. Linux lets anyone lower a thread's priority, but raising it again
/// takes `CAP_SYS_NICE` or a `RLIMIT_NICE` allowance, which an ordinary user or a container
/// without that capability lacks: there a writer lent an idle pool thread could never catch up.
/// Tried once, on a thread of its own.
pub fn available() -> bool {
    static ROUND_TRIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROUND_TRIP.get_or_init(|| {
        let tried = std::thread::Builder::new()
            .name("tw-sched-probe".into())
            .spawn(|| set_idle() && set_normal().is_ok());
        let ok = tried.is_ok_and(|t| t.join().unwrap_or(false));
        if !ok {
            tracing::debug!(
                "background threads keep their priority: this process may not raise a thread's priority back"
            );
        }
        ok
    })
}

#[cfg(target_os = "linux")]
fn set_idle() -> bool {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Min,
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
    )
    .is_ok()
}

#[cfg(target_os = "linux")]
fn set_normal() -> Result<(), String> {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityOsValue, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Os(ThreadPriorityOsValue::default()),
        ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Other),
    )
    .map_err(|e| format!("{e:?}"))
}

#[cfg(not(target_os = "linux"))]
fn set_idle() -> bool {
    false
}

#[cfg(not(target_os = "linux"))]
fn set_normal() -> Result<(), String> {
    Ok(())
}

/// While alive, the calling thread (a pool thread lent for one piece of work) runs as
/// `SCHED_IDLE`; dropped, it is back at normal priority. Must be dropped on the thread that
/// made it.
#[must_use = "the thread is back at normal priority when this is dropped"]
pub struct IdleWhile {
    set: bool,
    /// Not `Send`: it restores the thread it was made on.
    _here: std::marker::PhantomData<*const ()>,
}

impl IdleWhile {
    pub fn start() -> Self {
        Self {
            set: idle_this_thread(),
            _here: std::marker::PhantomData,
        }
    }
}

impl Drop for IdleWhile {
    fn drop(&mut self) {
        if self.set {
            normal_this_thread();
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
#[expect(clippy::expect_used, reason = "tests fail by panicking")]
mod tests {
    use super::*;

    /// The policy field of `/proc/thread-self/stat` (the 41st): 0 normal, 5 idle.
    fn policy() -> u32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("readable");
        let after = stat.rsplit_once(')').expect("a command name").1;
        let field = after.split_whitespace().nth(38).expect("a policy field");
        field.parse().expect("a number")
    }

    #[test]
    fn a_lent_thread_idles_for_the_work_and_comes_back() {
        if !available() {
            // An unprivileged run: nothing may yield, so nothing changes.
            let _idle = IdleWhile::start();
            assert_eq!(policy(), 0);
            return;
        }
        std::thread::spawn(|| {
            assert_eq!(policy(), 0);
            {
                let _idle = IdleWhile::start();
                assert_eq!(policy(), 5, "SCHED_IDLE while the guard lives");
            }
            assert_eq!(policy(), 0, "SCHED_OTHER once it is dropped");
            assert!(idle_this_thread());
            assert_eq!(policy(), 5);
        })
        .join()
        .expect("the thread's assertions held");
    }
}
