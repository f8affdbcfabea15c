//! Helpers shared by the InfluxDB backend's tests: a fresh database per test on the InfluxDB
//! 1.6.7 peer, and the example binary used as a killable writer process.
#![allow(dead_code)]

use heatkpi::store::influx::{InfluxApi, InfluxOptions, InfluxStore};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../common/mod.rs"]
mod common;
pub use common::peer;

static N: AtomicUsize = AtomicUsize::new(0);

/// A database name no other test (or earlier run) uses.
pub fn unique_db(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Asset kinds of the test assets.
pub fn measurements() -> HashMap<String, String> {
    [
        ("ss-1", "substation"),
        ("ss-2", "substation"),
        ("b-1", "unit"),
        ("m-1", "meter"),
    ]
    .into_iter()
    .map(|(a, k)| (a.to_string(), k.to_string()))
    .collect()
}

/// Options for a fresh v1 database on the InfluxDB peer, side file in `dir`.
pub fn v1_options(url: &str, db: &str, dir: &Path) -> InfluxOptions {
    let mut o = InfluxOptions::new(url, InfluxApi::V1, db, dir.join("side.db"));
    o.measurements = measurements();
    o
}

/// A store on a fresh database of the InfluxDB 1.6.7 peer, or `None` (skipped) without it.
pub fn fresh_store(dir: &Path) -> Option<InfluxStore> {
    let url = peer("HEATKPI_PEER_INFLUXDB")?;
    let db = unique_db("heatkpi_test");
    let store = InfluxStore::open(v1_options(&url, &db, dir)).expect("open store");
    store.ensure_database(&db).expect("create database");
    Some(store)
}

/// The example binary next to this test's executable; built on demand when this test was
/// selected alone (cargo builds examples only for a plain `cargo test`).
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let bin = profile_dir.join("examples").join(name);
    if !bin.exists() {
        let profile = profile_dir
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("debug");
        let mut cmd = Command::new(env!("CARGO"));
        cmd.args(["build", "--example", name]);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        assert!(
            cmd.status().expect("cargo build").success(),
            "building example {name}"
        );
    }
    bin
}

/// POST line protocol straight to the server (to set up conflicts the backend must meet).
pub fn post_lines(url: &str, db: &str, body: &str) {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-XPOST"])
        .arg(format!("{url}/write?db={db}&precision=ns"))
        .args(["--data-binary", body])
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(code, "204", "setup write refused");
}
