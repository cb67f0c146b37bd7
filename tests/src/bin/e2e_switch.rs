//! A userspace Ethernet switch with per-link delay, jitter, loss and cuts, for `scripts/e2e`.
//!
//! This kernel has no netem, so the e2e suite shapes traffic here: every member's namespace has one veth into the
//! switch's namespace, and this process (run inside that namespace) forwards frames between those veth ends
//! through AF_PACKET sockets. Each direction of each member pair is a link with its own one-way delay, jitter,
//! loss probability and cut flag. Frames on one link keep their order (jitter never reorders a TCP stream, as a
//! real path does not), broadcasts are flooded, and MAC addresses are learned from source addresses.
//!
//! It is written in Rust because a Python switch saturated both cores of the test machine at 31 members, and a
//! switch that cannot keep up adds delay and loss of its own to every figure.
//!
//! Control: one JSON command per line on stdin, answered with one line on stdout (`ok`, `error: ...`, or the
//! statistics) once it is in effect. Members are numbered as the ports given on the command line.
//! - `{"op":"shape","delay_ms":[60,100],"jitter_ms":10,"loss":0.05,"seed":1}`: every link gets a base delay
//!   drawn from the range (per link, from the seed), plus up to ±jitter per frame, and the loss per frame;
//!   `"links":[[0,1],[1,0]]` limits it to those links.
//! - `{"op":"regions","of":[0,0,1],"delay_ms":[[0,60],[60,0]],"jitter_ms":5,"loss":0}`: delay by the regions of
//!   the two members.
//! - `{"op":"cut","links":[[0,1],[1,0]]}`: drop everything on these links.
//! - `{"op":"partition","groups":[[0,1],[2,3]]}`: cut every link between groups; members in no group are cut off
//!   from everyone.
//! - `{"op":"heal"}`: no cuts. `{"op":"stats"}`: frame counts and bytes per link. `{"op":"quit"}`.
//!
//! Usage: `clearance-e2e-switch PORT0 PORT1 ...` (interface names in the current network namespace).

use anyhow::{Context, bail};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const MAX_FRAME: usize = 65536;
/// `linux/if_packet.h` (Linux 4.20); not in the libc crate.
const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
/// Frames read from one port per wake-up before the others get their turn.
const DRAIN: usize = 256;

fn main() -> anyhow::Result<()> {
    let names: Vec<String> = std::env::args().skip(1).collect();
    if names.is_empty() {
        bail!("usage: clearance-e2e-switch PORT0 PORT1 ...");
    }
    let ports = names
        .iter()
        .map(|name| open_port(name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let state = Arc::new(Mutex::new(Links::new(ports.len())));
    let control_state = Arc::clone(&state);
    std::thread::spawn(move || control(control_state));
    println!("ok");
    std::io::stdout().flush()?;
    forward_forever(&ports, &state)
}

/// An AF_PACKET socket bound to one interface, non-blocking, that does not see its own sends.
fn open_port(name: &str) -> anyhow::Result<OwnedFd> {
    let cname = std::ffi::CString::new(name).context("interface name")?;
    // SAFETY: a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
    if index == 0 {
        bail!("no interface {name}");
    }
    let protocol = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: plain socket call; the result is checked.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            protocol.into(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("AF_PACKET socket (needs root)");
    }
    // SAFETY: fd is a new descriptor that nothing else owns.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; zero is a valid value for every field.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol;
    addr.sll_ifindex = index as i32;
    // SAFETY: addr lives across the call and its size is passed.
    let bound = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if bound < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("bind to {name}"));
    }
    // The switch's own sends on a port would otherwise be copied back to it (an ETH_P_ALL socket sees both
    // directions), doubling the kernel's work per frame. Older kernels lack the option: such frames are skipped
    // when read instead.
    let one: libc::c_int = 1;
    // SAFETY: one lives across the call and its size is passed.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            PACKET_IGNORE_OUTGOING,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    // Large buffers: a burst of frames to one port must wait in the kernel, not be dropped by it.
    for option in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
        let size: libc::c_int = 8 << 20;
        // SAFETY: size lives across the call and its size is passed; failure only leaves the default.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                option,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    Ok(owned)
}

/// Per-link shaping, cuts and counters, shared between the forwarding loop and the control thread.
struct Links {
    n: usize,
    delay: Vec<Duration>,
    jitter_us: Vec<u64>,
    loss: Vec<f64>,
    cut: Vec<bool>,
    bytes: Vec<u64>,
    rng: SplitMix,
    forwarded: u64,
    lost: u64,
    dropped_by_cut: u64,
    send_errors: u64,
}

impl Links {
    fn new(n: usize) -> Self {
        Links {
            n,
            delay: vec![Duration::ZERO; n * n],
            jitter_us: vec![0; n * n],
            loss: vec![0.0; n * n],
            cut: vec![false; n * n],
            bytes: vec![0; n * n],
            rng: SplitMix(0),
            forwarded: 0,
            lost: 0,
            dropped_by_cut: 0,
            send_errors: 0,
        }
    }

    fn apply(&mut self, cmd: &Value) -> anyhow::Result<String> {
        let op = cmd.get("op").and_then(Value::as_str).context("no op")?;
        match op {
            "shape" => {
                let (lo, hi) = range_ms(cmd.get("delay_ms"))?;
                if let Some(seed) = cmd.get("seed").and_then(Value::as_u64) {
                    self.rng = SplitMix(seed);
                }
                let jitter = jitter_us(cmd);
                let loss = cmd.get("loss").and_then(Value::as_f64).unwrap_or(0.0);
                for (a, b) in self.links_of(cmd)? {
                    let ms = lo + (hi - lo) * self.rng.unit();
                    let link = a * self.n + b;
                    self.delay[link] = Duration::from_secs_f64(ms / 1000.0);
                    self.jitter_us[link] = jitter;
                    self.loss[link] = loss;
                }
            }
            "regions" => {
                let of = members(cmd.get("of"), self.n)?;
                if of.len() != self.n {
                    bail!(
                        "regions: {} members given, the switch has {}",
                        of.len(),
                        self.n
                    );
                }
                let matrix: Vec<Vec<f64>> =
                    serde_json::from_value(cmd.get("delay_ms").cloned().unwrap_or(Value::Null))
                        .context("regions: delay_ms must be a matrix of numbers")?;
                let jitter = jitter_us(cmd);
                let loss = cmd.get("loss").and_then(Value::as_f64).unwrap_or(0.0);
                for a in 0..self.n {
                    for b in (0..self.n).filter(|&b| b != a) {
                        let ms = matrix
                            .get(of[a])
                            .and_then(|row| row.get(of[b]))
                            .context("regions: a region outside the delay matrix")?;
                        let link = a * self.n + b;
                        self.delay[link] = Duration::from_secs_f64(ms.max(0.0) / 1000.0);
                        self.jitter_us[link] = jitter;
                        self.loss[link] = loss;
                    }
                }
            }
            "cut" => {
                for (a, b) in self.links_of(cmd)? {
                    self.cut[a * self.n + b] = true;
                }
            }
            "partition" => {
                let groups = cmd
                    .get("groups")
                    .and_then(Value::as_array)
                    .context("partition: no groups")?;
                let mut group = vec![None; self.n];
                for (g, list) in groups.iter().enumerate() {
                    for m in members(Some(list), self.n)? {
                        group[m] = Some(g);
                    }
                }
                for a in 0..self.n {
                    for b in 0..self.n {
                        self.cut[a * self.n + b] =
                            a != b && (group[a].is_none() || group[a] != group[b]);
                    }
                }
            }
            "heal" => self.cut.iter_mut().for_each(|c| *c = false),
            "stats" => {
                let mut link_bytes = serde_json::Map::new();
                for (link, &bytes) in self.bytes.iter().enumerate().filter(|(_, b)| **b > 0) {
                    link_bytes.insert(format!("{}>{}", link / self.n, link % self.n), bytes.into());
                }
                return Ok(serde_json::json!({
                    "forwarded": self.forwarded,
                    "lost": self.lost,
                    "cut": self.dropped_by_cut,
                    "send_errors": self.send_errors,
                    "link_bytes": link_bytes,
                })
                .to_string());
            }
            "quit" => std::process::exit(0),
            other => bail!("unknown op {other:?}"),
        }
        Ok("ok".into())
    }

    /// The links a command names, or every link.
    fn links_of(&self, cmd: &Value) -> anyhow::Result<Vec<(usize, usize)>> {
        let Some(list) = cmd.get("links") else {
            return Ok((0..self.n)
                .flat_map(|a| (0..self.n).filter(move |&b| b != a).map(move |b| (a, b)))
                .collect());
        };
        let list = list
            .as_array()
            .context("links must be a list of [from, to]")?;
        list.iter()
            .map(|pair| match members(Some(pair), self.n)?.as_slice() {
                [a, b] if a != b => Ok((*a, *b)),
                _ => bail!("a link is [from, to] of two different members"),
            })
            .collect()
    }
}

fn range_ms(value: Option<&Value>) -> anyhow::Result<(f64, f64)> {
    let Some(value) = value else {
        return Ok((0.0, 0.0));
    };
    let range: Vec<f64> =
        serde_json::from_value(value.clone()).context("delay_ms must be [low, high]")?;
    match range.as_slice() {
        [lo, hi] if *lo >= 0.0 && hi >= lo => Ok((*lo, *hi)),
        _ => bail!("delay_ms must be [low, high] with 0 <= low <= high"),
    }
}

fn jitter_us(cmd: &Value) -> u64 {
    (cmd.get("jitter_ms")
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
        .max(0.0)
        * 1000.0) as u64
}

fn members(value: Option<&Value>, n: usize) -> anyhow::Result<Vec<usize>> {
    let list: Vec<usize> = serde_json::from_value(value.cloned().unwrap_or(Value::Null))
        .context("members must be a list of indexes")?;
    if let Some(bad) = list.iter().find(|&&m| m >= n) {
        bail!("member {bad} does not exist (the switch has {n} ports)");
    }
    Ok(list)
}

/// Reads commands from stdin and answers each once it is in effect. End of input ends the switch.
fn control(state: Arc<Mutex<Links>>) {
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<Value>(&line) {
            Ok(cmd) => match state.lock() {
                Ok(mut links) => links
                    .apply(&cmd)
                    .unwrap_or_else(|e| format!("error: {e:#}")),
                Err(_) => "error: the forwarding loop failed".into(),
            },
            Err(e) => format!("error: not JSON: {e}"),
        };
        if writeln!(stdout, "{answer}")
            .and_then(|_| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    std::process::exit(0);
}

/// A frame waiting for its link's delay.
struct Pending {
    due: Instant,
    seq: u64,
    from: usize,
    to: usize,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

fn forward_forever(ports: &[OwnedFd], state: &Mutex<Links>) -> anyhow::Result<()> {
    let n = ports.len();
    let mut polls: Vec<libc::pollfd> = ports
        .iter()
        .map(|p| libc::pollfd {
            fd: p.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let mut queue: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
    // When the last frame on each link leaves: a later frame never leaves before it.
    let mut last_out = vec![Instant::now(); n * n];
    let mut port_of_mac: HashMap<[u8; 6], usize> = HashMap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; MAX_FRAME];
    loop {
        let now = Instant::now();
        {
            let mut links = state
                .lock()
                .map_err(|_| anyhow::anyhow!("control thread panicked"))?;
            while queue.peek().is_some_and(|p| p.0.due <= now) {
                let Some(Reverse(p)) = queue.pop() else { break };
                // SAFETY: the frame buffer is valid for its length during the call.
                let sent = unsafe {
                    libc::send(
                        ports[p.to].as_raw_fd(),
                        p.frame.as_ptr().cast(),
                        p.frame.len(),
                        0,
                    )
                };
                if sent < 0 {
                    links.send_errors += 1;
                } else {
                    links.forwarded += 1;
                    links.bytes[p.from * n + p.to] += p.frame.len() as u64;
                }
            }
        }
        let timeout_ms = match queue.peek() {
            // Rounded up: waking early would spin until the frame is due.
            Some(p) => {
                p.0.due
                    .saturating_duration_since(Instant::now())
                    .as_micros()
                    .div_ceil(1000) as i32
            }
            None => -1,
        };
        // SAFETY: polls is a valid array of pollfd of the given length.
        let ready =
            unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout_ms) };
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err).context("poll");
        }
        if ready == 0 {
            continue;
        }
        let now = Instant::now();
        let mut links = state
            .lock()
            .map_err(|_| anyhow::anyhow!("control thread panicked"))?;
        for (from, poll) in polls.iter().enumerate() {
            if poll.revents & libc::POLLIN == 0 {
                continue;
            }
            for _ in 0..DRAIN {
                // SAFETY: sockaddr_ll is plain data; zero is a valid value.
                let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut addr_len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // SAFETY: buf and addr are valid for the lengths passed.
                let len = unsafe {
                    libc::recvfrom(
                        poll.fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        (&mut addr as *mut libc::sockaddr_ll).cast(),
                        &mut addr_len,
                    )
                };
                if len < 0 {
                    break;
                }
                let frame = &buf[..len as usize];
                if addr.sll_pkttype == libc::PACKET_OUTGOING || frame.len() < 14 {
                    continue;
                }
                let mut dst_mac = [0u8; 6];
                let mut src_mac = [0u8; 6];
                dst_mac.copy_from_slice(&frame[0..6]);
                src_mac.copy_from_slice(&frame[6..12]);
                port_of_mac.insert(src_mac, from);
                let unicast = dst_mac[0] & 1 == 0;
                let targets: Vec<usize> = match port_of_mac.get(&dst_mac) {
                    Some(&to) if unicast => vec![to],
                    _ => (0..n).collect(),
                };
                for to in targets.into_iter().filter(|&to| to != from) {
                    let link = from * n + to;
                    if links.cut[link] {
                        links.dropped_by_cut += 1;
                        continue;
                    }
                    if links.loss[link] > 0.0 && links.rng.unit() < links.loss[link] {
                        links.lost += 1;
                        continue;
                    }
                    let jitter = links.jitter_us[link];
                    let mut due = now + links.delay[link];
                    if jitter > 0 {
                        // Uniform in [-jitter, +jitter].
                        let offset = (links.rng.next() % (2 * jitter + 1)) as i64 - jitter as i64;
                        due = if offset >= 0 {
                            due + Duration::from_micros(offset as u64)
                        } else {
                            due.checked_sub(Duration::from_micros(offset.unsigned_abs()))
                                .unwrap_or(now)
                        };
                    }
                    let due = due.max(last_out[link]).max(now);
                    last_out[link] = due;
                    seq += 1;
                    queue.push(Reverse(Pending {
                        due,
                        seq,
                        from,
                        to,
                        frame: frame.to_vec(),
                    }));
                }
            }
        }
    }
}

/// SplitMix64: a small seeded generator, so that a manifest's seed gives the same link delays every run.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
