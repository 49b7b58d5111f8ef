//! Several real ctlookup processes on one store at once: syncs, queries, clears and a tiny size cap
//! started in a random (seeded) order, each answer compared with what the fake server holds. The store
//! may answer from itself, from the API or refuse (`--offline`), but it never answers short.
//!
//! The suite runs a short, fixed-seed budget; `bench/store_concurrency.sh` runs the long one
//! (`CTLOOKUP_STRESS_OPS`, `CTLOOKUP_STRESS_SEED`).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::common::*;

/// Events the fake holds: about ten days, the newest at `fixed_newest()`.
const EVENTS: usize = 3000;

/// One operation of the mix.
#[derive(Debug, Clone)]
enum Op {
    /// `ctlookup sync` of a window at a low rate (so that others interleave with it).
    Sync { window: (i64, i64), tps: u32 },
    /// A query over a window, its answer checked; with a size cap it evicts at its end.
    Query { window: (i64, i64), cap: Option<&'static str>, offline: bool },
    /// `ctlookup store clear --older-than T` (None: everything).
    Clear { older_than: Option<i64> },
}

/// An operation under way.
struct Started {
    op: Op,
    running: Running,
}

fn time_text(t: i64) -> String {
    DateTime::<Utc>::from_timestamp(t, 0).unwrap().to_rfc3339()
}

fn window_args((lo, hi): (i64, i64)) -> Vec<String> {
    vec!["--start-time".into(), time_text(lo), "--end-time".into(), time_text(hi)]
}

fn expected(records: &[Value], (lo, hi): (i64, i64)) -> Vec<String> {
    ids_where(records, |r| (lo..=hi).contains(&epoch_of(r)))
}

fn random_op(rng: &mut fastrand::Rng, span: (i64, i64)) -> Op {
    let (oldest, newest) = span;
    let length = newest - oldest;
    let window = |rng: &mut fastrand::Rng| {
        let a = oldest + rng.i64(0..=length);
        let b = oldest + rng.i64(0..=length);
        (a.min(b), a.max(b))
    };
    match rng.u32(0..10) {
        0..=2 => Op::Sync { window: window(rng), tps: rng.u32(8..40) },
        3..=5 => Op::Query { window: window(rng), cap: None, offline: false },
        6 => Op::Query { window: window(rng), cap: Some(["60K", "150K", "400K"][rng.usize(0..3)]), offline: false },
        7 => Op::Query { window: window(rng), cap: None, offline: true },
        8 => Op::Clear { older_than: Some(oldest + rng.i64(0..=length)) },
        _ => Op::Clear { older_than: None },
    }
}

fn start(sb: &Sandbox, url: &str, op: Op) -> Started {
    let mut cmd = sb.std_ctlookup();
    match &op {
        Op::Sync { window, tps } => {
            cmd.args(["sync", "--endpoint-url", url, "--tps", &tps.to_string()]).args(window_args(*window));
        }
        Op::Query { window, cap, offline } => {
            cmd.args(["--endpoint-url", url, "--tps", "1000", "-o", "jsonl"]).args(window_args(*window));
            if let Some(cap) = cap {
                cmd.args(["--store-max", cap]);
            }
            if *offline {
                cmd.arg("--offline");
            }
        }
        Op::Clear { older_than: Some(t) } => {
            cmd.args(["store", "clear", "--older-than", &time_text(*t)]);
        }
        Op::Clear { older_than: None } => {
            cmd.args(["store", "clear"]);
        }
    }
    Started { op, running: Running::start(&mut cmd) }
}

/// Why one finished operation's answer is wrong, if it is.
fn check(records: &[Value], running: Started) -> Option<String> {
    let out = running.running.finish();
    let stdout = out.stdout;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code();
    let wrong = |why: String| Some(format!("{:?}: {why}\nstderr: {stderr}", running.op));
    if stderr.contains("panicked") || stderr.contains("rebuilding it") {
        return wrong("a panic or a healthy store rebuilt".into());
    }
    match running.op {
        Op::Query { window, offline, .. } => {
            // --offline may refuse (exit 1) a window it does not cover; an answer it gives is whole.
            if offline && code == Some(1) && stderr.contains("--offline") && stdout.is_empty() {
                return None;
            }
            if code != Some(0) {
                return wrong(format!("exit {code:?}"));
            }
            let got = jsonl_ids(&stdout);
            let want = expected(records, window);
            (got != want).then(|| {
                format!("{:?}: {} events, the API holds {}\nstderr: {stderr}", running.op, got.len(), want.len())
            })
        }
        _ => (code != Some(0)).then(|| format!("{:?}: exit {code:?}\nstderr: {stderr}", running.op)),
    }
}

/// Runs `ops` operations, at most `parallel` at once, and returns every wrong answer.
fn run_mix(seed: u64, ops: usize, parallel: usize, budget: Duration) -> (usize, Vec<String>) {
    let sb = Sandbox::new();
    let records = records(EVENTS, seed, fixed_newest());
    let server = serve(&records);
    let url = server.url();
    let span = (epoch_of(records.last().unwrap()) - 600, epoch_of(&records[0]) + 600);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut running: Vec<Started> = Vec::new();
    let mut wrong = Vec::new();
    let mut done = 0;
    let deadline = Instant::now() + budget;
    let mut started = 0;
    while (started < ops && Instant::now() < deadline) || !running.is_empty() {
        if started < ops && Instant::now() < deadline && running.len() < parallel {
            let op = random_op(&mut rng, span);
            running.push(start(&sb, &url, op));
            started += 1;
            // A random pause so that operations start in the middle of one another.
            std::thread::sleep(Duration::from_millis(rng.u64(0..250)));
            continue;
        }
        let finished = running.iter_mut().position(|r| !r.running.is_running());
        match finished {
            Some(i) => {
                let one = running.swap_remove(i);
                done += 1;
                wrong.extend(check(&records, one));
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    // And at the end, with nothing else running: every window answers what the API holds.
    for _ in 0..4 {
        let op = Op::Query { window: random_window(&mut rng, span), cap: None, offline: false };
        wrong.extend(check(&records, start(&sb, &url, op)));
        done += 1;
    }
    (done, wrong)
}

fn random_window(rng: &mut fastrand::Rng, (oldest, newest): (i64, i64)) -> (i64, i64) {
    let a = rng.i64(oldest..=newest);
    let b = rng.i64(oldest..=newest);
    (a.min(b), a.max(b))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn processes_in_random_order_on_one_store_always_answer_what_the_api_holds() {
    let seed = env_or("CTLOOKUP_STRESS_SEED", 23);
    let ops = env_or("CTLOOKUP_STRESS_OPS", 40) as usize;
    let budget = Duration::from_secs(env_or("CTLOOKUP_STRESS_SECS", 45));
    let (done, wrong) = run_mix(seed, ops, 4, budget);
    eprintln!("seed {seed}: {done} operations, {} wrong", wrong.len());
    assert!(wrong.is_empty(), "{} wrong answers of {done} operations:\n{}", wrong.len(), wrong.join("\n\n"));
    assert!(done >= 12, "only {done} operations ran");
}

fn epoch_of(record: &Value) -> i64 {
    record["eventTime"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap().timestamp()
}

/// A fake with the events, and a sync of their whole window started in the background.
fn syncing(seed: u64) -> (Sandbox, Vec<Value>, fake_cloudtrail::server::FakeCloudTrail, (i64, i64), Running) {
    let sb = Sandbox::new();
    let records = records(EVENTS, seed, fixed_newest());
    let server = serve(&records);
    let window = (epoch_of(records.last().unwrap()), epoch_of(&records[0]));
    let mut sync = sb.std_ctlookup();
    sync.args(["sync", "--endpoint-url", &server.url(), "--tps", "20"]).args(window_args(window));
    let sync = Running::start(&mut sync);
    (sb, records, server, window, sync)
}

/// After the interleaving: an `--offline` answer is whole or refused, and a plain one is whole.
fn assert_answers_whole(sb: &Sandbox, url: &str, records: &[Value], window: (i64, i64)) {
    let all = expected(records, window);
    let out = sb
        .ctlookup()
        .args(["--endpoint-url", url, "--tps", "1000", "--offline"])
        .args(window_args(window))
        .output()
        .unwrap();
    if out.status.success() {
        assert_eq!(jsonl_ids(&out.stdout), all, "an --offline answer is whole");
    } else {
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not cover"));
    }
    let out = run_ok(sb.ctlookup().args(["--endpoint-url", url, "--tps", "1000"]).args(window_args(window)));
    assert_eq!(jsonl_ids(&out.stdout), all);
}

/// The first interleaving the issue found, made certain: a clear cuts away what a sync wrote, and
/// the sync goes on writing older pages.
#[test]
fn a_clear_in_the_middle_of_a_sync_never_leaves_a_window_covered_without_its_events() {
    let (sb, records, server, window, sync) = syncing(7);
    wait_until(Duration::from_secs(60), || server.requests().len() >= 12);
    // 12 pages of 50 are stored, newest first: cut in the middle of them.
    run_ok(sb.ctlookup().args(["store", "clear", "--older-than", &time_text(epoch_of(&records[300]))]));
    assert!(sync.finish().status.success());
    assert_answers_whole(&sb, &server.url(), &records, window);
}

/// The second: another process evicts (a tiny size cap) the pages a sync has just written.
#[test]
fn eviction_by_another_process_in_the_middle_of_a_sync_never_leaves_a_window_short() {
    let (sb, records, server, window, mut sync) = syncing(8);
    let url = server.url();
    let small = (epoch_of(&records[10]), epoch_of(&records[0]));
    while sync.is_running() {
        // Each of these ends by evicting down to 60K, the oldest pages first: the sync's newest writes.
        run_ok(
            sb.ctlookup()
                .args(["--endpoint-url", &url, "--tps", "1000", "--store-max", "60K"])
                .args(window_args(small)),
        );
        std::thread::sleep(Duration::from_millis(150));
    }
    assert!(sync.finish().status.success());
    assert_answers_whole(&sb, &url, &records, window);
}
