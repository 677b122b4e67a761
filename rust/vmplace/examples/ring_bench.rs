//! The Rust ring benchmark lines of `make bench`, in the one-line format of
//! bench/README.md (`NAME: vmplace X UNIT, baseline Y UNIT, ratio R`, then
//! `# bar` lines):
//!
//! - `rust_ring_16KiB_vs_c`, `rust_ring_64B_vs_c` (GB/s, higher is better):
//!   messages of that size through `Producer` (`io::Write::write_all`) and
//!   `Consumer` (`io::Read::read_exact` into one buffer), against the same
//!   64 KiB C ring driven the way bench/bench_ring.c drives it (a C program
//!   makes the same calls: the ring functions are not inline in the
//!   header): `vmp_ring_write`, and when it takes nothing
//!   `vmp_ring_wait_write(bytes still missing)`; `vmp_ring_read`, and when
//!   it gives nothing `vmp_ring_wait_read(bytes still missing)`. The
//!   binding's `write_all` and `read_exact` make those same calls (one per
//!   message that fits), so the ratio is the cost of the binding around
//!   them. Bar: ratio >= 0.95.
//! - `rust_ring_vs_channel_16KiB`: the Rust figure at 16 KiB against
//!   `std::sync::mpsc::sync_channel::<Vec<u8>>` bounded to the same bytes in
//!   flight (a `Vec` made per message, copied into the reader's buffer).
//!   Bar: ratio >= 3.
//!
//! Producer and consumer are pinned to CPUs 0 and 1; the contenders take
//! turns round by round (the first one rotating), and a line gives the
//! median of the per-round ratios. Every contender is timed alike: from
//! starting the two threads to the consumer's last byte, its halves (for
//! the binding: the shutdown on drop and the ring's close) dropped after
//! the clock stopped, as the C ring is closed after it, and the reader's
//! buffer starting on a cache line. Every message's first and last 8 bytes,
//! and the whole of every 64th, are checked against the source; a wrong
//! byte stops the benchmark with exit status 1.
//!
//! `cargo run --release --example ring_bench [-- --quick] [FILTER]`.

use std::io::{Read, Write};
use std::os::raw::c_void;
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::Instant;

use vmplace::sys;

const RING_BYTES: usize = 64 << 10;
const SOURCE_BYTES: usize = 4 << 20;
const FULL_CHECK_EVERY: usize = 64;

#[cfg(target_os = "linux")]
extern "C" {
    fn sched_setaffinity(pid: i32, size: usize, mask: *const u64) -> i32;
}

/// Pins the calling thread to one CPU, where there is such a CPU; the
/// benchmark runs unpinned elsewhere (and on systems other than Linux).
#[cfg(target_os = "linux")]
fn pin(cpu: usize) {
    let mut mask = [0u64; 16];
    if cpu < 64 * mask.len() {
        mask[cpu / 64] |= 1 << (cpu % 64);
        unsafe { sched_setaffinity(0, std::mem::size_of_val(&mask), mask.as_ptr()) };
    }
}

#[cfg(not(target_os = "linux"))]
fn pin(_cpu: usize) {}

/// What is sent: message i is `size` bytes of the source from `offset(i)`.
struct Workload {
    source: Vec<u8>,
    size: usize,
    messages: usize,
}

impl Workload {
    fn new(size: usize, total: usize) -> Workload {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let source = (0..SOURCE_BYTES)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        Workload { source, size, messages: total / size }
    }

    fn message(&self, i: usize) -> &[u8] {
        let offset = (i * 4099 * 8) % (SOURCE_BYTES - self.size);
        &self.source[offset..offset + self.size]
    }

    /// Checks a received message; exits on a wrong byte.
    fn check(&self, i: usize, got: &[u8]) {
        let want = self.message(i);
        let n = self.size.min(8);
        let ok = if i % FULL_CHECK_EVERY == 0 {
            got == want
        } else {
            got[..n] == want[..n] && got[self.size - n..] == want[self.size - n..]
        };
        if !ok {
            eprintln!("ring_bench: message {} of {} B arrived wrong", i, self.size);
            std::process::exit(1);
        }
    }

    fn bytes(&self) -> f64 {
        (self.messages * self.size) as f64
    }
}

/// One cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

/// The reader's buffer, zeroed, starting on a cache line. A `Vec<u8>`
/// starts wherever the reading thread's malloc arena has a chunk: which
/// arena a new thread gets varies from run to run, and with it whether 64
/// bytes lie on one line or straddle two, so each contender got one or the
/// other by chance.
struct Buffer {
    lines: Vec<Line>,
    len: usize,
}

impl Buffer {
    fn new(len: usize) -> Buffer {
        Buffer { lines: vec![Line([0; 64]); (len + 63) / 64], len }
    }
}

impl std::ops::Deref for Buffer {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // The lines are `len` or more initialised bytes, in one allocation.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const u8, self.len) }
    }
}

impl std::ops::DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// Runs `produce` on CPU 0 and `consume` on CPU 1, timing from the start
/// to the consumer's last byte; GB/s. What the two return (their halves of
/// the queue) is dropped only after the clock stopped: with a Rust half's
/// drop in the time (a shutdown, and for the last half the ring's close
/// with its unmapping: 0.2 to 9 ms measured on the loaded 2-CPU test VM,
/// against runs of 15 to 100 ms) and the C ring's close after it, the Rust
/// figure paid for a teardown that the C one did not.
fn timed<P, C, R, S>(work: &Arc<Workload>, produce: P, consume: C) -> f64
where
    P: FnOnce(&Workload) -> R + Send + 'static,
    C: FnOnce(&Workload) -> S + Send + 'static,
    R: Send + 'static,
    S: Send + 'static,
{
    let w = Arc::clone(work);
    let start = Instant::now();
    let producer = std::thread::spawn(move || {
        pin(0);
        produce(&w)
    });
    let w = Arc::clone(work);
    let consumer = std::thread::spawn(move || {
        pin(1);
        let kept = consume(&w);
        (Instant::now(), kept)
    });
    let (end, read_half) = consumer.join().expect("consumer");
    let write_half = producer.join().expect("producer");
    drop((write_half, read_half));
    work.bytes() / (end - start).as_secs_f64() / 1e9
}

fn rust_ring(work: &Arc<Workload>) -> f64 {
    let (mut tx, mut rx) = vmplace::Ring::new(RING_BYTES).expect("ring").split();
    timed(
        work,
        move |w| {
            for i in 0..w.messages {
                tx.write_all(w.message(i)).expect("write");
            }
            tx
        },
        move |w| {
            let mut buf = Buffer::new(w.size);
            for i in 0..w.messages {
                rx.read_exact(&mut buf).expect("read");
                w.check(i, &buf);
            }
            rx
        },
    )
}

/// The C ring handle, handed to the two threads of one run.
struct CRing(*mut sys::vmp_ring);
unsafe impl Send for CRing {}
unsafe impl Sync for CRing {}

fn c_ring(work: &Arc<Workload>) -> f64 {
    let mut raw = std::ptr::null_mut();
    assert_eq!(unsafe { sys::vmp_ring_create(RING_BYTES, 0, &mut raw) }, 0);
    let ring = Arc::new(CRing(raw));
    let (a, b) = (Arc::clone(&ring), Arc::clone(&ring));
    let rate = timed(
        work,
        move |w| {
            for i in 0..w.messages {
                let msg = w.message(i);
                let mut done = 0;
                while done < msg.len() {
                    let left = &msg[done..];
                    let n = unsafe { sys::vmp_ring_write(a.0, left.as_ptr() as *const c_void, left.len()) };
                    assert!(n >= 0, "vmp_ring_write: {}", n);
                    if n == 0 {
                        assert_eq!(unsafe { sys::vmp_ring_wait_write(a.0, left.len(), -1) }, 0);
                    }
                    done += n as usize;
                }
            }
            a
        },
        move |w| {
            let mut buf = Buffer::new(w.size);
            for i in 0..w.messages {
                let mut done = 0;
                while done < buf.len() {
                    let left = &mut buf[done..];
                    let n = unsafe { sys::vmp_ring_read(b.0, left.as_mut_ptr() as *mut c_void, left.len()) };
                    assert!(n >= 0, "vmp_ring_read: {}", n);
                    if n == 0 {
                        assert_eq!(unsafe { sys::vmp_ring_wait_read(b.0, left.len(), -1) }, 0);
                    }
                    done += n as usize;
                }
                w.check(i, &buf);
            }
            b
        },
    );
    unsafe { sys::vmp_ring_close(ring.0) };
    rate
}

fn channel(work: &Arc<Workload>) -> f64 {
    let (tx, rx) = sync_channel::<Vec<u8>>((RING_BYTES / work.size).max(1));
    timed(
        work,
        move |w| {
            for i in 0..w.messages {
                tx.send(w.message(i).to_vec()).expect("send");
            }
            tx
        },
        move |w| {
            let mut buf = Buffer::new(w.size);
            for i in 0..w.messages {
                let msg = rx.recv().expect("recv");
                buf.copy_from_slice(&msg);
                w.check(i, &buf);
            }
            rx
        },
    )
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    xs[xs.len() / 2]
}

/// Three significant digits without exponents, as bench/report.c prints.
fn format3(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{}", x);
    }
    let magnitude = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(2 - magnitude);
    let rounded = (x * scale).round() / scale;
    let decimals = (2 - rounded.abs().log10().floor() as i32).max(0) as usize;
    format!("{:.*}", decimals, rounded)
}

type Contender = fn(&Arc<Workload>) -> f64;

/// Rounds of the contenders in turn (the first rotating); the median of
/// each contender's rates and of the per-round ratios of the first to the
/// second.
fn compare(work: &Arc<Workload>, rounds: usize, a: Contender, b: Contender) -> (f64, f64, f64) {
    let (mut ra, mut rb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    a(work);
    b(work); // warm-up
    for round in 0..rounds {
        let (x, y) = if round % 2 == 0 {
            let x = a(work);
            (x, b(work))
        } else {
            let y = b(work);
            (a(work), y)
        };
        ra.push(x);
        rb.push(y);
        ratios.push(x / y);
    }
    (median(ra), median(rb), median(ratios))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let filter = args.iter().find(|a| !a.starts_with("--")).cloned().unwrap_or_default();
    let rounds = if quick { 3 } else { 7 };
    let scale = if quick { 16 } else { 1 };

    let mut bars = Vec::new();
    let big = Arc::new(Workload::new(16 << 10, (256 << 20) / scale));
    let small = Arc::new(Workload::new(64, (32 << 20) / scale));
    let lines: [(&str, &Arc<Workload>, Contender, f64); 3] = [
        ("rust_ring_16KiB_vs_c", &big, c_ring, 0.95),
        ("rust_ring_64B_vs_c", &small, c_ring, 0.95),
        ("rust_ring_vs_channel_16KiB", &big, channel, 3.0),
    ];
    for (name, work, baseline, bar) in lines.iter() {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let (x, y, ratio) = compare(work, rounds, rust_ring, *baseline);
        println!(
            "{}: vmplace {} GB/s, baseline {} GB/s, ratio {}",
            name,
            format3(x),
            format3(y),
            format3(ratio)
        );
        bars.push(format!(
            "# bar {}: ratio >= {} -> {}",
            name,
            bar,
            if ratio >= *bar { "met" } else { "MISSED" }
        ));
    }
    for bar in bars {
        println!("{}", bar);
    }
}
