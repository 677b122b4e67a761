//! The ring between two threads and between two processes.

use std::io::{self, BufRead, Read, Write};
use std::process::Command;
#[cfg(unix)]
use std::os::unix::io::AsFd as AsNative;
#[cfg(windows)]
use std::os::windows::io::AsHandle as AsNative;
use std::time::Duration;

use vmplace::{ErrorKind, MultiProducer, Ring, RingOptions};

/// The bytes of a stream both sides can compute: position-dependent, so
/// that a lost, repeated or reordered byte shows.
fn stream_byte(i: u64) -> u8 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 56) as u8 ^ (i as u8)
}

/// Chunk sizes that vary and cross the wrap at every alignment.
fn chunk_len(step: u64, cap: usize) -> usize {
    let sizes = [1usize, 7, 64, 1000, 4095, 4096, 4097, cap / 2 + 3, cap];
    sizes[(step % sizes.len() as u64) as usize]
}

const TOTAL: u64 = 24 << 20;

fn produce_write(tx: &mut impl Write, cap: usize) -> io::Result<()> {
    let mut at = 0u64;
    let mut step = 0u64;
    let mut chunk = Vec::new();
    while at < TOTAL {
        let n = (chunk_len(step, cap) as u64).min(TOTAL - at) as usize;
        chunk.clear();
        chunk.extend((at..at + n as u64).map(stream_byte));
        tx.write_all(&chunk)?;
        at += n as u64;
        step += 1;
    }
    Ok(())
}

/// Reads in place through BufRead and checks every byte; the count read.
fn consume_bufread(rx: &mut impl BufRead) -> io::Result<u64> {
    let mut at = 0u64;
    loop {
        let data = rx.fill_buf()?;
        if data.is_empty() {
            return Ok(at);
        }
        // Take a part of what is there, so releases land at odd places.
        let take = data.len().min(1 + (at % 5000) as usize);
        for (k, &b) in data[..take].iter().enumerate() {
            let i = at + k as u64;
            if b != stream_byte(i) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("byte {} is wrong", i)));
            }
        }
        rx.consume(take);
        at += take as u64;
    }
}

#[test]
fn two_threads_write_and_bufread_every_byte_in_order() {
    let ring = Ring::new(64 * 1024).unwrap();
    let cap = ring.capacity();
    let (mut tx, mut rx) = ring.split();
    let producer = std::thread::spawn(move || produce_write(&mut tx, cap));
    let got = consume_bufread(&mut rx).unwrap();
    producer.join().unwrap().unwrap();
    assert_eq!(got, TOTAL);
}

#[test]
fn two_threads_grant_commit_and_read() {
    let (mut tx, mut rx) = Ring::new(16 * 1024).unwrap().split();
    let cap = tx.capacity();
    let producer = std::thread::spawn(move || {
        let mut at = 0u64;
        let mut step = 0u64;
        while at < TOTAL {
            let want = (chunk_len(step, cap) as u64).min(TOTAL - at) as usize;
            let space = tx.grant(want).unwrap();
            if space.len() < want {
                tx.wait(want, None).unwrap();
                continue;
            }
            for (k, b) in space[..want].iter_mut().enumerate() {
                *b = stream_byte(at + k as u64);
            }
            tx.commit(want).unwrap();
            at += want as u64;
            step += 1;
        }
    });
    let mut buf = vec![0u8; 3000];
    let mut at = 0u64;
    loop {
        let n = rx.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, stream_byte(at + k as u64), "byte {}", at + k as u64);
        }
        at += n as u64;
    }
    producer.join().unwrap();
    assert_eq!(at, TOTAL);
}

#[test]
fn two_threads_write_all_and_read_exact_every_byte_in_order() {
    let ring = Ring::new(16 * 1024).unwrap();
    let cap = ring.capacity();
    let (mut tx, mut rx) = ring.split();
    let total = TOTAL / 4;
    // Both sides take pieces larger than the ring too, and pieces that
    // leave the other side's piece half done.
    let sizes = move |step: u64| [1usize, 63, 64, 4097, cap - 1, cap, cap / 2 + 3, 2 * cap + 5][(step % 8) as usize];
    let producer = std::thread::spawn(move || {
        let (mut at, mut step) = (0u64, 0u64);
        while at < total {
            let n = (sizes(step) as u64).min(total - at);
            let chunk: Vec<u8> = (at..at + n).map(stream_byte).collect();
            tx.write_all(&chunk).unwrap();
            at += n;
            step += 1;
        }
    });
    let mut buf = vec![0u8; 2 * cap + 5];
    let (mut at, mut step) = (0u64, 3u64);
    while at < total {
        let n = (sizes(step) as u64).min(total - at) as usize;
        rx.read_exact(&mut buf[..n]).unwrap();
        for (k, &b) in buf[..n].iter().enumerate() {
            assert_eq!(b, stream_byte(at + k as u64), "byte {}", at + k as u64);
        }
        at += n as u64;
        step += 1;
    }
    producer.join().unwrap();
    // The producer is gone, and so is every byte it wrote.
    assert_eq!(rx.read(&mut buf).unwrap(), 0);
}

#[test]
fn read_exact_waits_for_what_is_missing_and_fails_at_the_end() {
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    tx.write_all(b"short").unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        tx.write_all(b"er th").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        tx.write_all(b"an").unwrap();
        // Dropping the producer ends the data.
    });
    let mut buf = [0u8; 10];
    rx.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"shorter th");
    // Two bytes come, then the end: what came is consumed.
    let err = rx.read_exact(&mut buf).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(&buf[..2], b"an");
    writer.join().unwrap();
    assert_eq!(rx.read(&mut buf).unwrap(), 0);
    assert_eq!(rx.read_exact(&mut buf[..1]).unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    // Empty buffers succeed as for any reader, even at the end.
    rx.read_exact(&mut []).unwrap();
    assert_eq!(rx.read(&mut []).unwrap(), 0);
}

#[test]
fn write_all_into_a_full_ring_breaks_when_the_consumer_goes() {
    let (mut tx, rx) = Ring::new(4096).unwrap().split();
    let cap = tx.capacity();
    tx.write_all(&vec![1u8; cap - 3]).unwrap();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        drop(rx);
    });
    // Three bytes go at once, then the write waits for room until the
    // consumer is dropped.
    let err = tx.write_all(b"abcdef").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    reader.join().unwrap();
    assert_eq!(tx.write_all(b"x").unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    // Nothing to write is no error, as for any writer.
    tx.write_all(&[]).unwrap();
    assert_eq!(tx.write(&[]).unwrap(), 0);
}

#[test]
fn dropping_the_consumer_breaks_the_pipe() {
    let (mut tx, rx) = Ring::new(4096).unwrap().split();
    drop(rx);
    let err = tx.write(b"x").unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn the_reader_drains_after_shutdown_then_sees_the_end() {
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    tx.write_all(b"last words").unwrap();
    tx.shutdown();
    assert_eq!(tx.grant(1).unwrap_err().kind(), ErrorKind::Shutdown);
    let mut text = String::new();
    rx.read_to_string(&mut text).unwrap();
    assert_eq!(text, "last words");
    assert_eq!(rx.peek(1).unwrap_err().kind(), ErrorKind::Shutdown);
}

#[test]
fn waits_time_out_and_bad_sizes_are_refused() {
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    let cap = tx.capacity();
    let err = rx.wait(1, Some(Duration::from_millis(5))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::TimedOut);
    assert_eq!(tx.grant(cap + 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(tx.wait(cap + 1, Some(Duration::ZERO)).unwrap_err().kind(), ErrorKind::InvalidArgument);
    // Full: a non-blocking write takes nothing, the wait for one byte times out.
    assert_eq!(tx.try_write(&vec![1u8; cap]).unwrap(), cap);
    assert_eq!(tx.try_write(b"more").unwrap(), 0);
    assert_eq!(tx.wait(1, Some(Duration::from_millis(5))).unwrap_err().kind(), ErrorKind::TimedOut);
    // Committing more than was granted is refused and publishes nothing.
    let _ = rx.peek(1).unwrap();
    assert_eq!(rx.release(cap + 1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(rx.peek(vmplace::sys::VMP_RING_ALL).unwrap().len(), cap);
}

#[test]
fn attaching_something_that_is_not_a_ring_is_refused() {
    let path = std::env::temp_dir().join(format!("vmplace-rust-notaring-{}", std::process::id()));
    std::fs::write(&path, vec![0u8; 3 * vmplace::page_size()]).unwrap();
    let file = std::fs::OpenOptions::new().read(true).write(true).open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = unsafe { Ring::attach(&file) }.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Peer | ErrorKind::InvalidArgument), "{}", err);
}

/// Runs this test binary again, as the child side of a two-process test
/// (`ring_child`, with `role`), once `give` has given it the ring.
fn spawn_child_with(give: impl FnOnce(&mut Command), test: &str, role: &str) -> std::process::Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
        .env("VMPLACE_RING_CHILD", role)
        // The child's own test summary would read as this run's; its
        // panics still show on stderr.
        .stdout(std::process::Stdio::null());
    give(&mut command);
    command.spawn().unwrap()
}

#[cfg(unix)]
mod child_ring {
    //! The child finds the ring's descriptor at number `CHILD_FD`.
    use std::io;
    use std::os::unix::io::{AsFd, AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;

    const CHILD_FD: i32 = 3;

    extern "C" {
        fn dup2(old: i32, new: i32) -> i32;
        fn fcntl(fd: i32, cmd: i32, ...) -> i32;
    }

    const F_SETFD: i32 = 2;

    pub fn spawn(ring: &impl AsFd, test: &str, role: &str) -> std::process::Child {
        let fd = ring.as_fd().as_raw_fd();
        super::spawn_child_with(
            |command| {
                // dup2 gives the child a descriptor without close-on-exec
                // (fcntl when it is already there); both are
                // async-signal-safe, as a pre_exec hook must be.
                unsafe {
                    command.pre_exec(move || {
                        let done = if fd == CHILD_FD { fcntl(fd, F_SETFD, 0) } else { dup2(fd, CHILD_FD) };
                        if done < 0 {
                            Err(io::Error::last_os_error())
                        } else {
                            Ok(())
                        }
                    });
                }
            },
            test,
            role,
        )
    }

    /// In the child: the descriptor the parent left at `CHILD_FD`.
    pub fn take() -> OwnedFd {
        unsafe { OwnedFd::from_raw_fd(CHILD_FD) }
    }
}

#[cfg(windows)]
mod child_ring {
    //! The child inherits a copy of the ring's section HANDLE, whose value
    //! it reads from `VMPLACE_RING_HANDLE` (an inherited HANDLE has the
    //! same value in the child). `Command::spawn` lets the child inherit
    //! every inheritable handle; only the copy made for it is one.
    use std::os::windows::io::{AsHandle, AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};

    const HANDLE_FLAG_INHERIT: u32 = 1;

    #[link(name = "kernel32")]
    extern "system" {
        fn SetHandleInformation(handle: RawHandle, mask: u32, flags: u32) -> i32;
    }

    pub fn spawn(ring: &impl AsHandle, test: &str, role: &str) -> std::process::Child {
        let copy = ring.as_handle().try_clone_to_owned().unwrap();
        let ok = unsafe { SetHandleInformation(copy.as_raw_handle(), HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) };
        assert_ne!(ok, 0, "SetHandleInformation: {}", std::io::Error::last_os_error());
        let value = copy.as_raw_handle() as usize;
        // The copy is dropped (closed here) once the child has its own.
        super::spawn_child_with(
            |command| {
                command.env("VMPLACE_RING_HANDLE", value.to_string());
            },
            test,
            role,
        )
    }

    /// In the child: the HANDLE the parent let it inherit.
    pub fn take() -> OwnedHandle {
        let value: usize = std::env::var("VMPLACE_RING_HANDLE").expect("set by the parent").parse().unwrap();
        unsafe { OwnedHandle::from_raw_handle(value as RawHandle) }
    }
}

/// Waits for the child on another thread and shuts the ring down when it
/// exits, so that a child that dies early ends the parent's read or write
/// instead of leaving it waiting forever.
fn watch(mut child: std::process::Child, stop: vmplace::ShutdownHandle) -> std::thread::JoinHandle<bool> {
    std::thread::spawn(move || {
        let ok = child.wait().unwrap().success();
        stop.shutdown();
        ok
    })
}

#[test]
#[ignore = "the child side of two_processes_*: run by them"]
fn ring_child() {
    let role = std::env::var("VMPLACE_RING_CHILD").expect("run by two_processes_* only");
    // Safety: the parent keeps the other side only.
    let ring = unsafe { Ring::attach(child_ring::take()) }.unwrap();
    let cap = ring.capacity();
    match role.as_str() {
        "produce" => produce_write(&mut ring.into_producer(), cap).unwrap(),
        "consume" => {
            let got = consume_bufread(&mut std::io::BufReader::new(ring.into_consumer())).unwrap();
            assert_eq!(got, TOTAL);
        }
        "records" => {
            let tx = ring.into_multi_producer().unwrap();
            produce_records(&tx, 1, RECORDS_PER_PRODUCER);
        }
        other => panic!("unknown role {}", other),
    }
}

#[test]
fn two_processes_child_writes_parent_reads() {
    let ring = Ring::new(64 * 1024).unwrap();
    let child = watch(child_ring::spawn(&ring, "ring_child", "produce"), ring.shutdown_handle());
    let got = consume_bufread(&mut ring.into_consumer()).unwrap();
    assert!(child.join().unwrap(), "the child failed");
    assert_eq!(got, TOTAL);
}

#[test]
fn two_processes_parent_writes_child_reads() {
    let ring = Ring::new(32 * 1024).unwrap();
    let cap = ring.capacity();
    let child = watch(child_ring::spawn(&ring, "ring_child", "consume"), ring.shutdown_handle());
    let mut tx = ring.into_producer();
    let written = produce_write(&mut tx, cap);
    drop(tx); // the shutdown is the child's end of data
    assert!(child.join().unwrap(), "the child found a wrong or missing byte");
    written.unwrap();
}

// ---- records ---------------------------------------------------------------

const RECORDS_PER_PRODUCER: u32 = 20_000;

/// Record `seq` of producer `id`: a header (id, seq) and a body whose
/// length and bytes follow from both, so the consumer can check each one.
fn record_len(id: u32, seq: u32) -> usize {
    8 + ((id as usize * 131 + seq as usize * 7919) % 600)
}

fn fill_record(buf: &mut [u8], id: u32, seq: u32) {
    buf[..4].copy_from_slice(&id.to_le_bytes());
    buf[4..8].copy_from_slice(&seq.to_le_bytes());
    for (k, b) in buf[8..].iter_mut().enumerate() {
        *b = stream_byte(((id as u64) << 32 | seq as u64).wrapping_add(k as u64));
    }
}

/// Checks a received record; its (producer, sequence number).
fn check_record(data: &[u8]) -> (u32, u32) {
    let id = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let seq = u32::from_le_bytes([data[4], data[5], data[6], data[7]]);
    assert_eq!(data.len(), record_len(id, seq), "length of record {} of producer {}", seq, id);
    for (k, &b) in data[8..].iter().enumerate() {
        assert_eq!(b, stream_byte(((id as u64) << 32 | seq as u64).wrapping_add(k as u64)));
    }
    (id, seq)
}

fn produce_records(tx: &MultiProducer, id: u32, count: u32) {
    for seq in 0..count {
        let mut record = tx.reserve(record_len(id, seq), None).unwrap();
        fill_record(&mut record, id, seq);
        record.submit().unwrap();
    }
}

/// Reads records until the ring is shut down and empty; checks that each
/// producer's arrive whole and in order; the count per producer.
fn consume_records(rx: &mut vmplace::Consumer, producers: usize) -> Vec<u32> {
    let mut next = vec![0u32; producers + 1];
    loop {
        let record = match rx.next_record(None) {
            Ok(record) => record,
            Err(err) if err.kind() == ErrorKind::Shutdown => return next,
            Err(err) => panic!("next_record: {}", err),
        };
        let (id, seq) = check_record(&record);
        assert_eq!(seq, next[id as usize], "producer {} out of order", id);
        next[id as usize] += 1;
        record.consume().unwrap();
    }
}

#[test]
fn single_producer_records_between_two_threads() {
    let (mut tx, mut rx) = Ring::new(16 * 1024).unwrap().split();
    let producer = std::thread::spawn(move || {
        for seq in 0..RECORDS_PER_PRODUCER {
            let mut record = tx.reserve(record_len(0, seq), None).unwrap();
            fill_record(&mut record, 0, seq);
            record.submit().unwrap();
        }
        tx.stats().unwrap()
    });
    let counts = consume_records(&mut rx, 0);
    let stats = producer.join().unwrap();
    assert_eq!(counts[0], RECORDS_PER_PRODUCER);
    assert_eq!(stats.records_written, RECORDS_PER_PRODUCER as u64);
    assert_eq!(rx.stats().unwrap().records_read, RECORDS_PER_PRODUCER as u64);
}

#[test]
fn many_producer_threads_deliver_every_record_in_order() {
    let ring = Ring::with_options(64 * 1024, RingOptions::new().multi_producer(true)).unwrap();
    let (tx, mut rx) = ring.split_multi().unwrap();
    let producers = 4u32;
    let threads: Vec<_> = (1..=producers)
        .map(|id| {
            let tx = tx.clone();
            std::thread::spawn(move || produce_records(&tx, id, RECORDS_PER_PRODUCER / 4))
        })
        .collect();
    let watcher = std::thread::spawn(move || {
        for t in threads {
            t.join().unwrap();
        }
        tx.shutdown();
    });
    let counts = consume_records(&mut rx, producers as usize);
    watcher.join().unwrap();
    assert_eq!(&counts[1..], &[RECORDS_PER_PRODUCER / 4; 4]);
    let stats = rx.stats().unwrap();
    assert_eq!((stats.records_written, stats.abandoned), (RECORDS_PER_PRODUCER as u64, 0));
}

#[test]
fn a_full_ring_drops_records_it_cannot_wait_for() {
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    let max = rx.capacity() - 8;
    assert!(max <= Ring::new(4096).unwrap().record_max());
    assert_eq!(tx.reserve(usize::MAX, None).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut n = 0;
    let err = loop {
        match tx.reserve(100, Some(Duration::ZERO)) {
            Ok(record) => record.submit().unwrap(),
            Err(err) => break err,
        }
        n += 1;
    };
    assert_eq!(err.kind(), ErrorKind::Full);
    assert_eq!(io::Error::from(err).kind(), io::ErrorKind::WouldBlock);
    let err = tx.reserve(100, Some(Duration::from_millis(5))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert_eq!(tx.stats().unwrap().dropped, 2);
    // One consumed record makes room again.
    rx.next_record(None).unwrap().consume().unwrap();
    tx.reserve(100, Some(Duration::ZERO)).unwrap().submit().unwrap();
    assert!(n > 30, "only {} records of 100 B fit in 4 KiB", n);
}

#[test]
fn a_multi_producer_ring_refuses_bytes_and_a_single_one_refuses_many_producers() {
    let ring = Ring::with_options(4096, RingOptions::new().multi_producer(true)).unwrap();
    let (mut tx, mut rx) = ring.split();
    assert_eq!(tx.grant(1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(tx.write(b"x").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    assert_eq!(rx.peek(1).unwrap_err().kind(), ErrorKind::InvalidArgument);
    // Its records still work through the single Producer.
    tx.reserve(1, None).unwrap().submit().unwrap();
    assert_eq!(rx.next_record(None).unwrap().len(), 1);
    let err = Ring::new(4096).unwrap().split_multi().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let (_tx, mut rx) = Ring::new(4096).unwrap().split();
    assert_eq!(rx.set_abandon_timeout(None).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_producer_process_writes_records_the_parent_reads() {
    let ring = Ring::with_options(32 * 1024, RingOptions::new().multi_producer(true)).unwrap();
    let (tx, mut rx) = ring.split_multi().unwrap();
    let mut child = child_ring::spawn(&tx, "ring_child", "records");
    // The parent's own producer runs at the same time as the child's.
    let local_tx = tx.clone();
    let local = std::thread::spawn(move || produce_records(&local_tx, 2, RECORDS_PER_PRODUCER));
    // Once both producers are done (or the child died), the shutdown is
    // the consumer's end of data.
    let waiter = std::thread::spawn(move || {
        let ok = child.wait().unwrap().success();
        local.join().unwrap();
        tx.shutdown();
        ok
    });
    let counts = consume_records(&mut rx, 2);
    assert!(waiter.join().unwrap(), "the child failed");
    assert_eq!(&counts[1..], &[RECORDS_PER_PRODUCER, RECORDS_PER_PRODUCER]);
}

// ---- descriptor I/O ----------------------------------------------------------

/// The stream of `BYTES` bytes written to `source` arrives at `sink`, moved
/// from `input` (the other end of `source`) by `fill_from` and to `output`
/// (the other end of `sink`) by `drain_to`, in pieces of at most 1000.
fn move_stream_through_a_ring<I, O>(mut source: impl Write + Send + 'static, input: I, output: O, mut sink: impl Read)
where
    I: AsNative + Send + 'static,
    O: AsNative + Send + 'static,
{
    const BYTES: u64 = 4 << 20;
    let (mut tx, mut rx) = Ring::new(16 * 1024).unwrap().split();
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..BYTES).map(stream_byte).collect();
        source.write_all(&data).unwrap();
        // Dropping the writing end is the end of the input.
    });
    let filler = std::thread::spawn(move || loop {
        match tx.fill_from(&input, vmplace::sys::VMP_RING_ALL) {
            Ok(0) => return, // the end of input; dropping tx shuts the ring down
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::Full => tx.wait(1, None).unwrap(),
            Err(err) => panic!("fill_from: {}", err),
        }
    });
    let drainer = std::thread::spawn(move || loop {
        match rx.drain_to(&output, 1000) {
            Ok(0) => match rx.wait(1, None) {
                Ok(()) => {}
                Err(err) if err.kind() == ErrorKind::Shutdown => return,
                Err(err) => panic!("wait: {}", err),
            },
            Ok(n) => assert!(n <= 1000),
            Err(err) if err.kind() == ErrorKind::Shutdown => return,
            Err(err) => panic!("drain_to: {}", err),
        }
    });
    let mut got = Vec::new();
    sink.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    filler.join().unwrap();
    drainer.join().unwrap();
    assert_eq!(got.len() as u64, BYTES);
    assert!(got.iter().enumerate().all(|(i, &b)| b == stream_byte(i as u64)));
}

#[cfg(unix)]
#[test]
fn fill_from_and_drain_to_move_a_stream_between_sockets_without_a_copy() {
    use std::os::unix::net::UnixStream;
    let (source, input) = UnixStream::pair().unwrap();
    let (output, sink) = UnixStream::pair().unwrap();
    move_stream_through_a_ring(source, input, output, sink);
}

#[cfg(unix)]
#[test]
fn descriptor_io_reports_os_errors() {
    use std::os::unix::net::UnixStream;
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    tx.write_all(b"nobody reads this").unwrap();
    let (output, reader) = UnixStream::pair().unwrap();
    drop(reader);
    let err = rx.drain_to(&output, vmplace::sys::VMP_RING_ALL).unwrap_err();
    assert_eq!((err.kind(), err.raw_os_error()), (ErrorKind::Os, Some(32)), "{}", err); // EPIPE, no SIGPIPE
    let (input, _writer) = UnixStream::pair().unwrap();
    input.set_nonblocking(true).unwrap();
    let err = tx.fill_from(&input, vmplace::sys::VMP_RING_ALL).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(11), "{}", err); // EAGAIN
    assert_eq!(tx.fill_from(&input, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
}

/// An anonymous pipe: (read end, write end).
#[cfg(windows)]
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::windows::io::{FromRawHandle, OwnedHandle, RawHandle};
    #[link(name = "kernel32")]
    extern "system" {
        fn CreatePipe(read: *mut RawHandle, write: *mut RawHandle, attributes: *mut u8, size: u32) -> i32;
    }
    let (mut read, mut write) = (std::ptr::null_mut(), std::ptr::null_mut());
    assert_ne!(unsafe { CreatePipe(&mut read, &mut write, std::ptr::null_mut(), 0) }, 0, "CreatePipe");
    unsafe { (OwnedHandle::from_raw_handle(read).into(), OwnedHandle::from_raw_handle(write).into()) }
}

#[cfg(windows)]
#[test]
fn fill_from_and_drain_to_move_a_stream_between_pipes_without_a_copy() {
    let (input, source) = pipe();
    let (sink, output) = pipe();
    move_stream_through_a_ring(source, input, output, sink);
}

#[cfg(windows)]
#[test]
fn handle_io_reports_os_errors() {
    let (mut tx, mut rx) = Ring::new(4096).unwrap().split();
    tx.write_all(b"nobody reads this").unwrap();
    let (reader, output) = pipe();
    drop(reader);
    let err = rx.drain_to(&output, vmplace::sys::VMP_RING_ALL).unwrap_err();
    // ERROR_BROKEN_PIPE or ERROR_NO_DATA: the reader is gone.
    assert_eq!(err.kind(), ErrorKind::Os, "{}", err);
    assert!(matches!(err.raw_os_error(), Some(109) | Some(232)), "{}", err);
    let (input, writer) = pipe();
    drop(writer);
    assert_eq!(tx.fill_from(&input, vmplace::sys::VMP_RING_ALL).unwrap(), 0, "a pipe whose writer is gone ends");
    assert_eq!(tx.fill_from(&input, 0).unwrap_err().kind(), ErrorKind::InvalidArgument);
}
