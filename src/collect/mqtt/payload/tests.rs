use super::*;
use crate::config::mqtt::MqttConfig;
use proptest::prelude::*;
use serde_json::Value;

/// 2026-01-15T10:00:00Z in ms.
const T0: TimestampMs = 1_768_471_200_000;
const RECV: TimestampMs = T0 + 5_000;

fn router(toml_subs: &str) -> Router {
    #[derive(serde::Deserialize)]
    struct Wrap {
        mqtt: MqttConfig,
    }
    let w: Wrap = toml::from_str(toml_subs).unwrap();
    Router::new(&w.mqtt.subscriptions).unwrap()
}

fn reasons(d: &Decoded) -> Vec<&'static str> {
    d.rejects.iter().map(|r| r.reason.label()).collect()
}

fn series(d: &Decoded) -> Vec<String> {
    d.readings.iter().map(|r| r.series.to_string()).collect()
}

const NUMBER: &str = r#"
[[mqtt.subscription]]
topic = "dh/+/+/+"
template = "dh/{network}/{asset}/{quantity}"
units = { supply_temp = "degC", heat_energy = "kWh" }
max_payload_bytes = 32
"#;

#[test]
fn plain_numbers_take_series_and_unit_from_topic_and_config() {
    let r = router(NUMBER);
    let d = r.decode("dh/north/ss-042/heat_energy", b" 1234.5\n", RECV);
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    assert_eq!(series(&d), ["ss-042.heat_energy"]);
    let x = &d.readings[0];
    assert_eq!(
        (x.ts, x.value, x.unit, x.quality),
        (RECV, 1234.5, Unit::KWh, Quality::Good)
    );
    assert_eq!(d.captures["network"], "north");

    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/supply_temp", b"warm", RECV)),
        ["not_a_number"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/supply_temp", b"NaN", RECV)),
        ["not_finite"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/supply_temp", b"-inf", RECV)),
        ["not_finite"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/flow", b"1", RECV)),
        ["no_unit"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/flw", b"1", RECV)),
        ["unknown_quantity"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss 1/flow", b"1", RECV)),
        ["no_unit"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss 1/supply_temp", b"1", RECV)),
        ["bad_asset"]
    );
    assert_eq!(
        reasons(&r.decode("dh/n/ss-1/supply_temp", &[0xff, 0xfe], RECV)),
        ["malformed"]
    );
    assert_eq!(
        reasons(&r.decode("other/topic", b"1", RECV)),
        ["no_mapping"]
    );
    let d = r.decode("dh/n/ss-1/supply_temp", &[b'1'; 33], RECV);
    assert_eq!(reasons(&d), ["oversize"]);
    assert_eq!(
        d.mapping,
        Some(0),
        "oversize is counted on its subscription"
    );
}

const JSON: &str = r#"
[[mqtt.subscription]]
name = "substations"
topic = "meters/+"
template = "meters/{asset}"
format = "json"
time_field = "ts"
quality_field = "q"
quality_map = { "0" = "good", "4" = "maintenance" }
[mqtt.subscription.fields]
"heat.energy" = { quantity = "heat_energy", unit = "kWh" }
"temps.supply" = { quantity = "supply_temp", unit = "degC" }
"temps.return" = { quantity = "return_temp", unit = "degC", optional = true }
"hx2.flow" = { quantity = "flow", unit = "l/h", asset = "{asset}-hx2", optional = true }
"#;

#[test]
fn json_maps_nested_fields_with_units_time_and_quality() {
    let r = router(JSON);
    let d = r.decode(
        "meters/ss-7",
        br#"{"ts":"2026-01-15T11:00:00+01:00","q":4,"heat":{"energy":100},
             "temps":{"supply":"80.5","return":45},"hx2":{"flow":900}}"#,
        RECV,
    );
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    // fields are read in path order
    assert_eq!(
        series(&d),
        [
            "ss-7.heat_energy",
            "ss-7-hx2.flow",
            "ss-7.return_temp",
            "ss-7.supply_temp"
        ]
    );
    assert!(
        d.readings
            .iter()
            .all(|x| x.ts == T0 && x.quality == Quality::Maintenance)
    );
    assert_eq!(d.readings[0].unit, Unit::KWh);
    assert_eq!(d.readings[3].value, 80.5, "numeric strings are numbers");
    assert_eq!(d.readings[1].unit, Unit::LitrePerH);
}

#[test]
fn json_rejects_only_what_cannot_be_read() {
    let r = router(JSON);
    // wrong type and missing field: the rest of the message lands
    let d = r.decode(
        "meters/ss-7",
        br#"{"ts":1768471200,"heat":{"energy":true},"temps":{"return":40}}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["wrong_type", "missing_field"]);
    assert_eq!(series(&d), ["ss-7.return_temp"]);
    assert_eq!(d.readings[0].ts, T0, "epoch seconds");
    // bare NaN (Python's json.dumps) costs one value, not the message
    let d = r.decode(
        "meters/ss-7",
        br#"{"ts":1768471200000,"heat":{"energy":NaN},"temps":{"supply":-Infinity,"return":"NaN"}}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["not_finite", "not_finite", "not_finite"]);
    // missing / bad timestamp and quality reject the record
    let d = r.decode(
        "meters/ss-7",
        br#"{"heat":{"energy":1},"temps":{"supply":1}}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["missing_timestamp"]);
    assert!(d.readings.is_empty(), "never re-dated to the receive time");
    let d = r.decode(
        "meters/ss-7",
        br#"{"ts":"yesterday","heat":{"energy":1}}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["bad_timestamp"]);
    let d = r.decode("meters/ss-7", br#"{"ts":12,"heat":{"energy":1}}"#, RECV);
    assert_eq!(
        reasons(&d),
        ["bad_timestamp"],
        "1970 is a clock that was never set"
    );
    let d = r.decode(
        "meters/ss-7",
        br#"{"ts":1768471200,"q":"weird","heat":{"energy":1}}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["bad_quality"]);
    // malformed JSON
    assert_eq!(
        reasons(&r.decode("meters/ss-7", br#"{"ts":1,"heat":"#, RECV)),
        ["malformed"]
    );
    assert_eq!(
        reasons(&r.decode("meters/ss-7", b"[1, 2]", RECV)),
        ["wrong_type", "wrong_type"]
    );
}

#[test]
fn json_arrays_of_records_share_the_message_timestamp() {
    let r = router(
        r#"
        [[mqtt.subscription]]
        topic = "gw/batch"
        format = "json"
        records = "readings"
        time_field = "time"
        time_format = "epoch_ms"
        fields = { v = { quantity = "flow", unit = "m3/h", asset = "ss-1" } }
        "#,
    );
    let d = r.decode(
        "gw/batch",
        br#"{"time":1768471200000,"readings":[{"v":1},{"v":2,"time":1768471260000},{"v":"x"}]}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["not_a_number"]);
    let got: Vec<(TimestampMs, f64)> = d.readings.iter().map(|x| (x.ts, x.value)).collect();
    assert_eq!(got, [(T0, 1.0), (T0 + 60_000, 2.0)]);
    let d = r.decode("gw/batch", br#"{"time":1768471200000}"#, RECV);
    assert_eq!(reasons(&d), ["missing_field"]);
}

#[test]
fn line_protocol_reuses_the_import_parser() {
    let r = router(
        r#"
        [[mqtt.subscription]]
        topic = "lp/#"
        format = "line_protocol"
        precision = "ms"
        "#,
    );
    let d = r.decode(
        "lp/x",
        b"substation,asset=ss-1 supply_temp=80.5,return_temp=45 1768471200000\n\
          substation,asset=ss-2 flow=1.5\nsubstation,asset=ss-3 flw=1 1\nbroken",
        RECV,
    );
    assert_eq!(
        series(&d),
        ["ss-1.supply_temp", "ss-1.return_temp", "ss-2.flow"]
    );
    assert_eq!((d.readings[0].ts, d.readings[2].ts), (T0, RECV));
    assert_eq!(
        d.readings[2].unit,
        Unit::M3PerH,
        "line protocol is in canonical units"
    );
    assert_eq!(reasons(&d), ["unknown_quantity", "line_syntax"]);
}

const WMBUS: &str = r#"
[[mqtt.subscription]]
topic = "wmbusmeters/+"
template = "wmbusmeters/{name}"
format = "wmbusmeters"
meters = { "12345678" = "ss-042", "hall" = "ss-043" }
"#;

#[test]
fn wmbusmeters_preset_maps_known_fields_and_meters() {
    let r = router(WMBUS);
    let d = r.decode(
        "wmbusmeters/ss042",
        br#"{"_":"telegram","media":"heat","meter":"multical21","name":"ss042","id":"12345678",
            "total_energy_consumption_kwh":1234.5,"total_volume_m3":56.7,
            "flow_temperature_c":71.2,"return_temperature_c":42.1,"volume_flow_m3h":1.25,
            "power_kw":36.1,"rssi_dbm":-70,"current_status":"OK","timestamp":"2026-01-15T10:00:00Z"}"#,
        RECV,
    );
    assert!(d.rejects.is_empty(), "{:?}", d.rejects);
    let mut s = series(&d);
    s.sort();
    assert_eq!(
        s,
        [
            "ss-042.flow",
            "ss-042.heat_energy",
            "ss-042.heat_power",
            "ss-042.return_temp",
            "ss-042.supply_temp",
            "ss-042.volume"
        ]
    );
    assert!(
        d.readings
            .iter()
            .all(|x| x.ts == T0 && x.quality == Quality::Good)
    );
    let e = d
        .readings
        .iter()
        .find(|x| x.series.quantity == Quantity::HeatEnergy)
        .unwrap();
    assert_eq!(e.unit, Unit::KWh);

    // by name, with a status that is not OK
    let d = r.decode(
        "wmbusmeters/hall",
        br#"{"name":"hall","id":999,"flow_temperature_c":60,"current_status":"LEAK","timestamp":"2026-01-15T10:00:00Z"}"#,
        RECV,
    );
    assert_eq!(series(&d), ["ss-043.supply_temp"]);
    assert_eq!(d.readings[0].quality, Quality::Suspect);

    let d = r.decode(
        "wmbusmeters/x",
        br#"{"id":"1","power_kw":1,"timestamp":"2026-01-15T10:00:00Z"}"#,
        RECV,
    );
    assert_eq!(reasons(&d), ["unknown_meter"]);
    let d = r.decode("wmbusmeters/hall", br#"{"name":"hall","power_kw":1}"#, RECV);
    assert_eq!(reasons(&d), ["missing_timestamp"]);
    let d = r.decode(
        "wmbusmeters/hall",
        br#"{"name":"hall","power_kw":"n/a","total_volume_m3":3,"timestamp":"2026-01-15T10:00:00Z"}"#,
        RECV,
    );
    assert_eq!(
        (reasons(&d), series(&d)),
        (vec!["not_a_number"], vec!["ss-043.volume".to_string()])
    );
}

#[test]
fn compile_errors_say_what_to_write() {
    #[derive(serde::Deserialize)]
    struct Wrap {
        mqtt: MqttConfig,
    }
    let err = |s: &str| {
        let w: Wrap = toml::from_str(s).unwrap();
        Router::new(&w.mqtt.subscriptions).unwrap_err().to_string()
    };
    let e =
        err("[[mqtt.subscription]]\ntopic = \"a/+\"\ntemplate = \"a/{asset}\"\nunit = \"kWh\"\n");
    assert!(e.contains("quantity"), "{e}");
    let e = err("[[mqtt.subscription]]\ntopic = \"a/+\"\nquantity = \"flow\"\nunit = \"m3/h\"\n");
    assert!(e.contains("asset"), "{e}");
    let e = err(
        "[[mqtt.subscription]]\ntopic = \"a/+\"\ntemplate = \"a/{asset}\"\nquantity = \"flow\"\n",
    );
    assert!(e.contains("unit"), "{e}");
    let e = err("[[mqtt.subscription]]\ntopic = \"a\"\nformat = \"json\"\n");
    assert!(e.contains("fields"), "{e}");
    let e = err(
        "[[mqtt.subscription]]\ntopic = \"a/+\"\ntemplate = \"a/{x}\"\nasset = \"{y}\"\nquantity = \"flow\"\nunit = \"m3/h\"\n",
    );
    assert!(e.contains("{y}"), "{e}");
    let e = err("[[mqtt.subscription]]\ntopic = \"a\"\nqos = 3\nformat = \"line_protocol\"\n");
    assert!(e.contains("qos"), "{e}");
}

#[test]
fn qos_2_is_subscribed_as_1() {
    let r = router("[[mqtt.subscription]]\ntopic = \"a\"\nqos = 2\nformat = \"line_protocol\"\n");
    assert_eq!(r.mappings[0].qos, 1);
}

#[test]
fn timestamps_in_every_format() {
    use serde_json::json;
    let p = |v: Value, f| parse_time(&v, f);
    assert_eq!(p(json!("2026-01-15T10:00:00Z"), TimeFormat::Auto), Ok(T0));
    assert_eq!(
        p(json!("2026-01-15T10:00:00.250Z"), TimeFormat::Rfc3339),
        Ok(T0 + 250)
    );
    assert_eq!(p(json!(1_768_471_200), TimeFormat::Auto), Ok(T0));
    assert_eq!(p(json!(1_768_471_200.5), TimeFormat::EpochS), Ok(T0 + 500));
    assert_eq!(p(json!(1_768_471_200_000i64), TimeFormat::Auto), Ok(T0));
    assert_eq!(p(json!(1_768_471_200_000_000i64), TimeFormat::Auto), Ok(T0));
    assert_eq!(
        p(json!(1_768_471_200_000_000i64), TimeFormat::EpochUs),
        Ok(T0)
    );
    assert_eq!(p(json!("1768471200000"), TimeFormat::EpochMs), Ok(T0));
    assert!(p(json!(1_768_471_200), TimeFormat::Rfc3339).is_err());
    assert!(
        p(json!(1_768_471_200_000i64), TimeFormat::EpochS).is_err(),
        "year 58000"
    );
    assert!(p(json!(null), TimeFormat::Auto).is_err());
}

fn all_formats() -> Router {
    router(&format!(
        "{NUMBER}{JSON}{WMBUS}
        [[mqtt.subscription]]
        topic = \"lp/#\"
        format = \"line_protocol\"
        [[mqtt.subscription]]
        topic = \"gw/#\"
        format = \"json\"
        records = \"r\"
        time_field = \"t\"
        fields = {{ \"a.0.b\" = {{ quantity = \"flow\", unit = \"m3/h\", asset = \"x\" }} }}
        "
    ))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// No payload, however broken, panics a decoder; every message gives readings or reasons.
    #[test]
    fn decoders_never_panic(
        topic in prop::sample::select(vec![
            "dh/n/ss-1/supply_temp", "meters/ss-7", "wmbusmeters/hall", "lp/x", "gw/1", "nowhere",
        ]),
        payload in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let _ = all_formats().decode(topic, &payload, RECV);
    }

    /// Same for text that looks like JSON, so the decoders get past the parser.
    #[test]
    fn json_like_text_never_panics(
        topic in prop::sample::select(vec!["meters/ss-7", "wmbusmeters/hall", "gw/1", "lp/a"]),
        payload in r#"[\[\]{}":,0-9a-zA-Z_.\- NaInfity]{0,120}"#,
    ) {
        let d = all_formats().decode(topic, payload.as_bytes(), RECV);
        prop_assert!(d.readings.iter().all(|r| r.value.is_finite()));
    }

    /// Any valid JSON value goes through every JSON-based decoder without panicking.
    #[test]
    fn arbitrary_json_values(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap_or_default();
        for t in ["meters/ss-7", "wmbusmeters/hall", "gw/1"] {
            let d = all_formats().decode(t, &bytes, RECV);
            prop_assert!(d.readings.iter().all(|r| r.value.is_finite()));
        }
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        any::<i64>().prop_map(|i| Value::Number(i.into())),
        "[a-z0-9:.TZ+-]{0,25}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "ts",
                    "t",
                    "q",
                    "r",
                    "a",
                    "b",
                    "0",
                    "heat",
                    "energy",
                    "temps",
                    "supply",
                    "name",
                    "id",
                    "timestamp",
                    "power_kw",
                    "current_status",
                    "total_volume_m3",
                ]),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}
