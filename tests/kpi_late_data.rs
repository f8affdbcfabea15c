//! Late data as an operator meets it (domain.md §0.2, §7.8): a month of the demo plant is
//! imported from line protocol with one day missing (the day of the SO2 episode), evaluated and
//! stored; the missing day arrives later and is imported; the month evaluated again shows the
//! change — a new revision whose `details.recalculation` holds the previous value and status —
//! and the store keeps both revisions.

mod kpi_support;

use heatkpi::config::Settings;
use heatkpi::model::time::Window;
use heatkpi::sim::{Reading, ReadingSink, SeriesRules, SinkError, demo_settings};
use heatkpi::store::sqlite::SqliteStore;
use heatkpi::store::{EventFilter, ResultFilter, Store};
use kpi_support::{PlantOnly, october_plus_boundary};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// 2026-10-13T00:00:00+02:00 and 2026-10-14T00:00:00+02:00, UTC ms.
const DAY_13: (i64, i64) = (1_791_842_400_000, 1_791_928_800_000);

/// Writes readings as line protocol (`<kind>,asset=<id>[,quality=<q>] <quantity>=<v> <ns>`,
/// canonical units), the late day into one file and everything else into another.
struct LineProtocolFiles {
    kinds: HashMap<String, String>,
    on_time: std::io::BufWriter<std::fs::File>,
    late: std::io::BufWriter<std::fs::File>,
    no_value: u64,
}

impl ReadingSink for LineProtocolFiles {
    fn set_rules(&mut self, _: &heatkpi::model::SeriesKey, _: SeriesRules) {}
    fn push(&mut self, readings: &[Reading]) -> Result<(), SinkError> {
        for r in readings {
            if !r.value.is_finite() {
                // A device that did not answer: nothing to import.
                self.no_value += 1;
                continue;
            }
            let q = r.series.quantity;
            let v = heatkpi::model::quantity::convert(q, r.unit, r.value)?;
            let out = if (DAY_13.0..DAY_13.1).contains(&r.ts) {
                &mut self.late
            } else {
                &mut self.on_time
            };
            let quality = match r.quality {
                heatkpi::model::Quality::Good => String::new(),
                other => format!(",quality={}", other.name()),
            };
            writeln!(
                out,
                "{},asset={}{quality} {}={v} {}",
                self.kinds[&r.series.asset],
                r.series.asset,
                q.name(),
                r.ts * 1_000_000
            )?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        self.on_time.flush()?;
        self.late.flush()?;
        Ok(())
    }
}

fn heatkpi(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/demo.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_heatkpi"))
        .arg("-c")
        .arg(config)
        .args(args)
        .env("HEATKPI__STORE__PATH", dir.join("late.db"))
        .env("HEATKPI_LOG", "error")
        .output()
        .expect("run heatkpi");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn evaluate_and_store(dir: &Path) -> Vec<Value> {
    let (code, out, err) = heatkpi(
        dir,
        &["evaluate", "--period", "2026-10", "--store", "--json"],
    );
    assert_eq!(code, 0, "{err}");
    serde_json::from_str::<Value>(&out)
        .expect("evaluate --json")
        .as_array()
        .unwrap()
        .clone()
}

fn result<'a>(rs: &'a [Value], kpi: &str, asset: &str) -> &'a Value {
    rs.iter()
        .find(|r| r["kpi"] == kpi && r["asset"] == asset && r["period"] == "2026-10")
        .unwrap_or_else(|| panic!("no {kpi} of {asset} for 2026-10"))
}

fn write_files(settings: &Settings, dir: &Path) -> u64 {
    let file = |name: &str| std::io::BufWriter::new(std::fs::File::create(dir.join(name)).unwrap());
    let files = LineProtocolFiles {
        kinds: heatkpi::config::influx::measurements(settings)
            .into_iter()
            .collect(),
        on_time: file("october-on-time.lp"),
        late: file("october-13.lp"),
        no_value: 0,
    };
    let mut sink = PlantOnly::new(files, settings);
    heatkpi::sim::history(settings, &mut sink, &october_plus_boundary(None)).unwrap();
    sink.inner.no_value
}

#[test]
fn a_late_day_changes_the_stored_month_and_the_change_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let settings = demo_settings().unwrap();
    let no_value = write_files(&settings, dir.path());
    assert_eq!(no_value, 0, "the plant's devices answer all month");

    let on_time = dir.path().join("october-on-time.lp");
    let (code, out, err) = heatkpi(dir.path(), &["import", on_time.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("none rejected"), "{out}");
    let first = evaluate_and_store(dir.path());
    let so2_days = result(&first, "emission_so2_days_above_daily_limit", "em-coal");
    // Without the 13th the SO2 episode is not in the data: no day above the daily limit.
    assert_eq!(
        (so2_days["value"].as_f64(), so2_days["status"].as_str()),
        (Some(0.0), Some("pass"))
    );
    let so2_avg_before = result(&first, "emission_so2_average", "em-coal")["value"]
        .as_f64()
        .unwrap();
    let k1_before = result(&first, "boiler_efficiency", "k1").clone();
    // 721 of October's 745 hours have k1 readings (the 13th's 24 are missing): 0.9678 ≥ 0.95,
    // so the month is not provisional.
    assert!((k1_before["completeness"].as_f64().unwrap() - 721.0 / 745.0).abs() < 1e-9);
    assert!(
        first
            .iter()
            .all(|r| r["details"].get("recalculation").is_none())
    );

    let late = dir.path().join("october-13.lp");
    let (code, out, err) = heatkpi(dir.path(), &["import", late.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let second = evaluate_and_store(dir.path());

    // The day above the daily limit appears; the revision says what it replaced.
    let so2_days = result(&second, "emission_so2_days_above_daily_limit", "em-coal");
    assert_eq!(
        (so2_days["value"].as_f64(), so2_days["status"].as_str()),
        (Some(1.0), Some("fail"))
    );
    let rc = &so2_days["details"]["recalculation"];
    assert_eq!(rc["previous_value"].as_f64(), Some(0.0), "{rc}");
    assert_eq!(rc["previous_status"], "pass");
    assert_eq!(rc["changed"], true);
    // The monthly average takes in the episode's hours.
    let avg = result(&second, "emission_so2_average", "em-coal");
    let so2_avg_after = avg["value"].as_f64().unwrap();
    assert!(
        so2_avg_after > so2_avg_before + 1.0,
        "{so2_avg_before} → {so2_avg_after}"
    );
    assert_eq!(
        avg["details"]["recalculation"]["previous_value"].as_f64(),
        Some(so2_avg_before)
    );
    assert_eq!(avg["details"]["recalculation"]["changed"], true);
    // k1's energy was all there (register differences span the gap): same η, full completeness,
    // and the note says nothing changed in value or status.
    let k1 = result(&second, "boiler_efficiency", "k1");
    assert_eq!(k1["completeness"].as_f64(), Some(1.0));
    assert_eq!(k1["value"], k1_before["value"]);
    assert_eq!(k1["details"]["recalculation"]["changed"], false);

    // Both revisions are kept in the store, and the exceedance event is registered.
    let store = SqliteStore::open(dir.path().join("late.db")).unwrap();
    let oct = Window::new(1_790_805_600_000, 1_793_487_600_000);
    let revisions = store
        .results(&ResultFilter {
            kpi: Some("emission_so2_days_above_daily_limit".into()),
            asset: Some("em-coal".into()),
            overlapping: Some(oct),
            all_revisions: true,
        })
        .unwrap();
    let values: Vec<Option<f64>> = revisions
        .iter()
        .filter(|r| (r.period_start, r.period_end) == (oct.start, oct.end))
        .map(|r| r.body["value"].as_f64())
        .collect();
    assert_eq!(values, [Some(0.0), Some(1.0)]);
    let daily = store
        .events(&EventFilter {
            kind: Some("emission_daily_exceedance".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        daily
            .iter()
            .map(|e| (e.subject.as_str(), e.start, e.end))
            .collect::<Vec<_>>(),
        [("em-coal.so2", DAY_13.0, Some(DAY_13.1))]
    );
}
