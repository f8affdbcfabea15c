//! The v2 write path (`/api/v2/write`, org/bucket/token, gzip) against VictoriaMetrics, read
//! back through its export API: every sample and its quality arrive under the documented
//! names (`<kind>_<quantity>{asset=…}` and `<kind>_<quantity>_q`). Skips without
//! `HEATKPI_PEER_VICTORIA` (tests/peers/influx.sh).

mod influx_support;

use heatkpi::model::{Quality, Quantity, Sample, SeriesKey};
use heatkpi::store::Store;
use heatkpi::store::influx::{Auth, InfluxApi, InfluxOptions, InfluxStore};
use influx_support::{measurements, peer};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const T0: i64 = 1_767_222_000_000;

fn export(base: &str, matcher: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", &format!("{base}/api/v1/export"), "-d"])
        .arg(format!("match[]={matcher}"))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn v2_writes_land_in_victoria_metrics_under_the_documented_names() {
    let Some(vm) = peer("HEATKPI_PEER_VICTORIA") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // A per-run asset id keeps runs apart in VM's persistent data.
    let asset = format!("ss-vm-{}", std::process::id());
    let mut m = measurements();
    m.insert(asset.clone(), "substation".into());
    let mut o = InfluxOptions::new(&vm, InfluxApi::V2, "heatkpi", dir.path().join("side.db"));
    o.org = "utility".into();
    o.auth = Auth::Token("any-token".into());
    o.measurements = m;
    o.batch_size = 700; // several requests
    o.check_duplicates = false; // VM has no InfluxQL to read existing points from
    let st = InfluxStore::open(o).unwrap();
    let samples: Vec<Sample> = (0..2000)
        .map(|i| Sample {
            series: SeriesKey::new(asset.clone(), Quantity::SupplyTemp),
            ts: T0 + i * 1000,
            value: 60.0 + (i as f64) / 8.0,
            quality: if i % 10 == 0 {
                Quality::Suspect
            } else {
                Quality::Good
            },
        })
        .collect();
    let r = st.write(&samples).unwrap();
    assert_eq!(r.written, 2000);
    let _ = std::process::Command::new("curl")
        .args(["-s", &format!("{vm}/internal/force_flush")])
        .output();
    // VM shows new series after a flush within a second or so; poll with a deadline.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (values, qualities) = loop {
        let v = export(&vm, &format!("substation_supply_temp{{asset=\"{asset}\"}}"));
        let q = export(
            &vm,
            &format!("substation_supply_temp_q{{asset=\"{asset}\"}}"),
        );
        let parse = |text: &str| -> BTreeMap<i64, f64> {
            let mut m = BTreeMap::new();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let j: serde_json::Value = serde_json::from_str(line).unwrap();
                let ts = j["timestamps"].as_array().unwrap();
                let vs = j["values"].as_array().unwrap();
                for (t, v) in ts.iter().zip(vs) {
                    m.insert(t.as_i64().unwrap(), v.as_f64().unwrap());
                }
            }
            m
        };
        let (v, q) = (parse(&v), parse(&q));
        if (v.len() == 2000 && q.len() == 2000) || Instant::now() > deadline {
            break (v, q);
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(values.len(), 2000, "every sample exported");
    for s in &samples {
        assert_eq!(values.get(&s.ts), Some(&s.value), "value at {}", s.ts);
        assert_eq!(
            qualities.get(&s.ts),
            Some(&(s.quality.code() as f64)),
            "quality at {}",
            s.ts
        );
    }
}
