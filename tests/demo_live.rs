//! `heatkpi demo` end to end: the demo's own interruption (a branch cut off a few seconds after
//! the start, for a little longer than the persistence time) is opened by the live
//! availability evaluation while it lasts and closed when supply returns, with start and end
//! at the scenario's truth within the meters' polling.
//!
//! Runs the real binary on a copy of `config/demo.toml` (its own port and store), without the
//! month's history backfill (it adds 20 s and nothing the interruption needs). About 150 s.

use std::path::Path;
use std::process::Command;

/// The heat meters' fast poll (`[modbus]` default), ms.
const POLL_MS: i64 = 10_000;
/// The simulator's step at `--speed 60`: one simulated minute per wall second, ms.
const SIM_STEP_WALL_MS: i64 = 1_000;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `config/demo.toml` and its templates in `dir`, served on `port`.
fn demo_config(dir: &Path, port: u16) -> std::path::PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let text = std::fs::read_to_string(src.join("demo.toml"))
        .unwrap()
        .replace("127.0.0.1:5020", &format!("127.0.0.1:{port}"));
    let path = dir.join("demo.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    for f in std::fs::read_dir(src.join("templates")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.join("templates").join(f.file_name().unwrap())).unwrap();
    }
    path
}

/// The instant after `key` in the announcement line (`from <rfc3339> to <rfc3339>`).
fn instant_after(line: &str, key: &str) -> i64 {
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len()..];
    let word = rest.split_whitespace().next().unwrap();
    chrono::DateTime::parse_from_rfc3339(word)
        .unwrap_or_else(|e| panic!("{word}: {e}"))
        .timestamp_millis()
}

#[test]
fn the_demo_shows_its_interruption_opening_and_closing() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo_config(dir.path(), free_port());
    let bin = env!("CARGO_BIN_EXE_heatkpi");
    let out = Command::new(bin)
        .args(["-c", config.to_str().unwrap(), "demo"])
        .args([
            "--for",
            "150s",
            "--summary-every",
            "5s",
            "--history",
            "false",
        ])
        // The cut outlasts the persistence time (1 min) by a poll (10 s), a live tick (20 s) and
        // margin, so every substation's run is confirmed even when its first reading without
        // supply comes a whole poll after the cut; a shorter run is a disturbance, rightly.
        .args(["--interruption-at", "10s", "--interruption-for", "100s"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The announced truth: which substations, from when to when (wall clock).
    let watch = stdout
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("watch: the simulator cuts b1 off")
        })
        .unwrap_or_else(|| panic!("no announcement in\n{stdout}"));
    let (cut_start, cut_end) = (instant_after(watch, " from "), instant_after(watch, " to "));
    assert_eq!(cut_end - cut_start, 100_000, "{watch}");
    let branch: Vec<String> = [1, 4, 7, 10, 13, 16, 19, 22]
        .iter()
        .map(|i| format!("ss-{i:02}"))
        .collect();
    assert!(watch.contains("8 substations"), "{watch}");
    // Live: a summary showed the interruptions open while the branch was cut off, and a later
    // one all of them closed.
    let open_line = stdout
        .lines()
        .position(|l| l.starts_with("watch (b1") && l.contains("interruptions open 8/8"))
        .unwrap_or_else(|| panic!("never shown open:\n{stdout}"));
    let closed_line = stdout
        .lines()
        .position(|l| l.starts_with("watch (b1") && l.contains("8 interruptions closed"))
        .unwrap_or_else(|| panic!("never shown closed:\n{stdout}"));
    assert!(open_line < closed_line);
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("interruptions open (8): ") && l.contains("ss-01 ")),
        "{stdout}"
    );
    // The store: one closed, confirmed interruption per substation of the branch, from the
    // first reading without pressure to the first one with it again.
    let ev = Command::new(bin)
        .args(["-c", config.to_str().unwrap()])
        .args(["events", "--kind", "interruption", "--json"])
        .output()
        .unwrap();
    assert!(ev.status.success());
    let events: Vec<serde_json::Value> = serde_json::from_slice(&ev.stdout).unwrap();
    let ours: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["body"]["withdrawn"].is_null())
        .collect();
    let mut subjects: Vec<String> = ours
        .iter()
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects, branch, "{events:#?}");
    // The cut shows in the first poll at or after it: a reading stands for the poll interval,
    // and the simulator moves in steps of a wall second.
    // (One step of slack for the wall-clock mapping of the simulator's start.)
    let near = |t: i64, truth: i64| {
        t >= truth - SIM_STEP_WALL_MS && t <= truth + POLL_MS + 2 * SIM_STEP_WALL_MS
    };
    for e in ours {
        let (start, end) = (e["start"].as_i64().unwrap(), e["end"].as_i64());
        let s = &e["subject"];
        assert!(near(start, cut_start), "{s}: start {start} vs {cut_start}");
        let end = end.unwrap_or_else(|| panic!("{s} still open: {e:#}"));
        assert!(near(end, cut_end), "{s}: end {end} vs {cut_end}");
        assert_eq!(e["body"]["state"], "closed", "{s}");
        assert_eq!(e["body"]["stage"], "confirmed", "{s}");
        assert_eq!(e["body"]["class"], "unplanned", "{s}");
        assert_eq!(e["body"]["evidence"]["reason"], "no_pressure", "{s}");
        assert_eq!(e["body"]["evidence"]["dp_measured"], true, "{s}");
        // The whole branch was cut: each neighbour, polled a few seconds apart, is evidence.
        let n = &e["body"]["neighbours"];
        assert_eq!(n["without_supply"], n["of"], "{s}: {n:#}");
    }
}
