//! The store contract (tests/store_contract) against InfluxDB 1.6.7 over v1 `/write` and
//! InfluxQL, each check on a fresh database. Skips without `HEATKPI_PEER_INFLUXDB`.
//!
//! One documented deviation: `retention_keeps_hourly_aggregates`. InfluxDB has no rollups of
//! heatkpi's; after `apply_retention` (a `DELETE` on 1.x) aggregates over the deleted hours are
//! gone. On InfluxDB, retention belongs to the database's retention policy or the bucket's
//! retention period, with downsampling by the operator's continuous queries or tasks
//! (docs/influxdb.md).

mod influx_support;
mod store_contract;

use heatkpi::store::Store;

const NOT_FOR_INFLUX: &[&str] = &["retention_keeps_hourly_aggregates"];

#[test]
fn influxdb_1_6_meets_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    if influx_support::peer("HEATKPI_PEER_INFLUXDB").is_none() {
        return;
    }
    for (name, check) in store_contract::ALL {
        if NOT_FOR_INFLUX.contains(name) {
            eprintln!("store contract: {name}: not applicable to InfluxDB (see module docs)");
            continue;
        }
        eprintln!("store contract: {name}");
        let sub = dir.path().join(name);
        let store = influx_support::fresh_store(&sub).expect("peer checked above");
        check(&store as &dyn Store);
    }
}
