//! `check-config` golden tests: the exact text an operator sees for fixture configurations in
//! `tests/fixtures/config/`, the example configuration shipped in `config/`, environment
//! overrides and secrets.

use heatkpi::config::{self, Secret};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Loading reads `HEATKPI__…` variables, and the environment is one per process: tests that
/// load a configuration or set a variable hold this lock so they never see each other's.
static ENV: Mutex<()> = Mutex::new(());

fn env_lock() -> MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets a variable for the life of the guard.
struct EnvVar(&'static str);

impl EnvVar {
    fn set(name: &'static str, value: &str) -> Self {
        // SAFETY: every test of this file holds `ENV` while the variable exists, and nothing
        // else in this test binary reads the environment from another thread.
        unsafe { std::env::set_var(name, value) };
        EnvVar(name)
    }
}

impl Drop for EnvVar {
    fn drop(&mut self) {
        // SAFETY: as in `set`.
        unsafe { std::env::remove_var(self.0) };
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What `heatkpi check-config <repo>/<relative>` prints, with the repository path removed so
/// the golden text does not depend on where the repository is checked out.
fn check(relative: &str) -> String {
    let path: PathBuf = repo().join(relative);
    let (problems, loaded) = config::check_file(&path);
    let shown = path.display().to_string();
    let out = config::render(&shown, &problems, loaded.as_ref());
    out.replace(&format!("{}/", repo().display()), "")
}

#[test]
fn example_configuration_is_valid() {
    let _env = env_lock();
    let path = repo().join("config/example.toml");
    let (problems, loaded) = config::check_file(&path);
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{}", shown.join("\n"));
    let loaded = loaded.expect("a valid configuration is returned");
    assert_eq!(loaded.settings.timezone(), chrono_tz::Europe::Warsaw);
    assert_eq!(loaded.asset_count(), 23);
    assert_eq!(loaded.settings.modbus.devices.len(), 5);
    assert!(loaded.templates.contains_key("sim-heat-meter"));
    assert_eq!(loaded.dir, repo().join("config"));
    assert_eq!(
        loaded.resolve(&loaded.settings.store.path),
        repo().join("config/data/heatkpi.db")
    );
    // The templates directory is shared (the simulator's dh-sim-* maps live there too).
    let n = loaded.templates.len();
    let plural = if n == 1 { "" } else { "s" };
    assert_eq!(
        check("config/example.toml"),
        format!("config/example.toml: OK (23 assets, 5 devices, {n} template{plural})\n")
    );
}

#[test]
fn every_option_of_the_example_has_a_comment() {
    // Telegraf's rule: the sample configuration documents every option it sets.
    let text = std::fs::read_to_string(repo().join("config/example.toml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut missing = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let is_option = line.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        });
        if is_option && !lines[..i].last().is_some_and(|prev| prev.starts_with('#')) {
            missing.push(format!("line {}: {line}", i + 1));
        }
    }
    assert!(
        missing.is_empty(),
        "options without a comment:\n{}",
        missing.join("\n")
    );
}

#[test]
fn a_typo_a_dangling_reference_and_a_wrong_unit_are_reported_exactly() {
    let _env = env_lock();
    // Lines: `custmers` is on line 36 of heatkpi.toml, `network = "net-north"` on line 42
    // (the value starts in column 11), `unit = "m3"` on line 8 of the template (column 8).
    let expected = "\
tests/fixtures/config/three/heatkpi.toml:36:1: substation[0].custmers: unknown key `custmers`; did you mean `customers`?
tests/fixtures/config/three/heatkpi.toml:42:11: substation[1].network: there is no network `net-north`; defined networks: `net`
tests/fixtures/config/three/templates/meter.toml:8:8: point[0].unit: unit `m3` does not fit quantity `heat_energy`; units of heat_energy: `GJ`, `MWh`, `kWh`, `Gcal`, `MJ`
3 problems in tests/fixtures/config/three/heatkpi.toml
";
    assert_eq!(check("tests/fixtures/config/three/heatkpi.toml"), expected);
}

#[test]
fn a_syntax_error_stops_the_check_at_its_position() {
    let _env = env_lock();
    // Line 6 is `path = "data/heatkpi.db` (23 characters): the closing quote is missing at
    // column 24.
    let expected = "\
tests/fixtures/config/syntax.toml:6:24: TOML syntax error: invalid basic string; expected `\"`
1 problem in tests/fixtures/config/syntax.toml
";
    assert_eq!(check("tests/fixtures/config/syntax.toml"), expected);
}

#[test]
fn many_problems_are_reported_in_one_run() {
    let _env = env_lock();
    let expected = "\
tests/fixtures/config/many/heatkpi.toml:6:12: site.timezone: `Europe/Warsow` is not an IANA time zone; did you mean `Europe/Warsaw`?
tests/fixtures/config/many/heatkpi.toml:10:1: ingest.limits.supply_temp.mxa: unknown key `mxa`; did you mean `max`?
tests/fixtures/config/many/heatkpi.toml:15:19: source[0].own_use_meters[0]: `plant-own` is a fuel meter, not a heat meter; set `kind = \"heat\"` on meter `plant-own` if that is what it measures, or name one of: `plant-out`
tests/fixtures/config/many/heatkpi.toml:20:8: unit[0].kind: unknown variant `boiller`; did you mean `boiler`?
tests/fixtures/config/many/heatkpi.toml:30:17: unit[1].rated_heat_mw: invalid type: string \"11.6\"; expected f64
tests/fixtures/config/many/heatkpi.toml:32:1: unit[2]: no heating value: efficiency cannot be computed; add `lhv_gj_per_unit` (from lab analyses or the supplier) or `lhv_series` (a measured `lhv` series)
tests/fixtures/config/many/heatkpi.toml:37:17: unit[2].rated_heat_mw: must be above 0, not 0; write the rated heat output in MW
tests/fixtures/config/many/heatkpi.toml:38:15: unit[2].meter_class: meter class 0 does not exist; write 1, 2 or 3 (the accuracy class on the meter's type plate, MID MI-004)
tests/fixtures/config/many/heatkpi.toml:45:14: unit[3].lhv_series: `gas.flow` is not a heating-value series; write `gas.lhv`
tests/fixtures/config/many/heatkpi.toml:52:28: stack[0].units[3]: there is no unit `k4`; did you mean `k1`?
tests/fixtures/config/many/heatkpi.toml:53:14: stack[0].o2_ref_pct: reference O2 21 % must be at least 0 and below the 21 % O2 of air; write 6 for solid fuels, 3 for gas or oil boilers, 15 for turbines and engines
tests/fixtures/config/many/heatkpi.toml:55:21: stack[0].ci_share.dust: must be between 0 and 1, not 1.2; write a share of the limit (0.2 is 20 %)
tests/fixtures/config/many/heatkpi.toml:68:15: meter[2].meter_class: meter class 4 does not exist; write 1, 2 or 3 (the accuracy class on the meter's type plate, MID MI-004)
tests/fixtures/config/many/heatkpi.toml:75:53: regulation[0].points[2]: regulation table row 2: outdoor temperature must increase from row to row; write rows `[outdoor °C, supply °C, return °C]` from the coldest outdoor temperature up
tests/fixtures/config/many/heatkpi.toml:78:6: network[0].id: duplicate id `net`; already used by weather[0] (line 71); ids must be unique across all assets
tests/fixtures/config/many/heatkpi.toml:80:16: network[0].makeup_meter: `ss-1` is a substation, not a make-up water meter; define it as a `[[meter]]` with `kind = \"makeup_water\"`
tests/fixtures/config/many/heatkpi.toml:81:19: network[0].water_volume_m3: must be above 0, not -100; write the network's water volume (zład) in m³
tests/fixtures/config/many/heatkpi.toml:97:8: threshold[0].warn: warn 18 is above fail 15; with `direction = \"max\"` the value rises past warn before fail: write warn ≤ fail (e.g. warn = 12, fail = 15)
tests/fixtures/config/many/heatkpi.toml:100:9: threshold[0].asset: there is no asset `net-city`; defined assets: `curve`, `em-1`, `gas`, `ge1`, `k1`, `k2`, `k3`, `net`, `plant`, `plant-out`, `plant-own`, `ss-1`
tests/fixtures/config/many/heatkpi.toml:101:18: threshold[0].effective_from: effective_from 2027-01-01 is after effective_to 2026-12-31; both days are inclusive; swap them or fix the year
tests/fixtures/config/many/heatkpi.toml:108:13: threshold[1].direction: unknown variant `minimum`; expected `min` or `max`
tests/fixtures/config/many/heatkpi.toml:113:2: alerts: unknown section `alerts`; accepted sections: `site`, `store`, `ingest`, `source`, `unit`, `stack`, `network`, `substation`, `weather`, `regulation`, `threshold`, `meter`, `modbus`, `mqtt`, `kpi`, `simulator`
tests/fixtures/config/many/heatkpi.toml:121:12: modbus.device[0].template: no template `heat-metre` in tests/fixtures/config/many/templates; available templates: `bad`, `good`
tests/fixtures/config/many/heatkpi.toml:125:1: modbus.device[1]: a serial (rtu) device needs the bus speed; add `baud = 9600` (or the speed set on the device)
tests/fixtures/config/many/heatkpi.toml:126:6: modbus.device[1].id: duplicate device id `m1`; already used by modbus.device[0] (line 120); give each device its own id
tests/fixtures/config/many/heatkpi.toml:128:9: modbus.device[1].asset: there is no asset `ss-2`; did you mean `ss-1`?
tests/fixtures/config/many/templates/bad.toml:17:11: point[1].address: holding registers 1…2 overlap point `energy` (holding registers 0…1, line 9); each value needs registers of its own; check the address against the register map
tests/fixtures/config/many/templates/bad.toml:27:8: point[2].type: a `bit` point in holding registers needs the bit index; add `bit = 0` … `bit = 15` (0 is the least significant bit)
tests/fixtures/config/many/templates/bad.toml:36:7: point[3].bit: `bit` does not apply to points in coils; coils and discrete inputs are single bits already: remove `bit`
tests/fixtures/config/many/templates/bad.toml:44:8: point[4].type: a string needs its length; add `length = N`, the number of registers (two characters each)
tests/fixtures/config/many/templates/bad.toml:47:8: point[5].name: duplicate point name `flow`; already used by point[1] (line 13); names must be unique in a template
tests/fixtures/config/many/templates/bad.toml:51:11: point[5].address: registers 65534…65537 run past the last address 65535; check the address; this point needs 4 registers
tests/fixtures/config/many/templates/bad.toml:53:1: point[5].scael: unknown key `scael`; did you mean `scale`?
33 problems in tests/fixtures/config/many/heatkpi.toml
";
    assert_eq!(check("tests/fixtures/config/many/heatkpi.toml"), expected);
}

#[test]
fn environment_overrides_nested_keys() {
    let _env = env_lock();
    let _path = EnvVar::set("HEATKPI__STORE__PATH", "/var/lib/heatkpi/from-env.db");
    let _max = EnvVar::set("HEATKPI__INGEST__LIMITS__RETURN_TEMP__MAX", "95.5");
    let _days = EnvVar::set("HEATKPI__STORE__RAW_RETENTION_DAYS", "30");
    let path = repo().join("config/example.toml");
    let loaded = config::load(&path).map_err(|e| e.to_string()).unwrap();
    let s = &loaded.settings;
    assert_eq!(s.store.path, "/var/lib/heatkpi/from-env.db");
    assert_eq!(s.store.raw_retention_days, 30);
    // A table the file does not have, two levels below `[ingest]`.
    assert_eq!(s.ingest.limits["return_temp"].max, Some(95.5));
    // The file's own values are kept where nothing overrides them.
    assert_eq!(s.ingest.limits["supply_temp"].max, Some(150.0));
    assert_eq!(s.site.name, "PEC Nowe Miasto Sp. z o.o.");
    assert_eq!(s.units.len(), 4);
}

#[test]
fn a_bad_environment_override_names_its_variable() {
    let _env = env_lock();
    let _tz = EnvVar::set("HEATKPI__SITE__TIMEZONE", "Europe/Warszawa");
    let _days = EnvVar::set("HEATKPI__STORE__RETENTION_DAYS", "30");
    let text = std::fs::read_to_string(repo().join("config/example.toml")).unwrap();
    let err = config::load_str(&text, "example.toml", &repo().join("config")).unwrap_err();
    let expected = "\
environment variable HEATKPI__STORE__RETENTION_DAYS: store.retention_days: unknown key `retention_days`; accepted keys: `backend`, `path`, `raw_retention_days`, `influx`, `synchronous`, `cache_mib`";
    assert_eq!(err.to_string(), expected);
    // Once the unknown key is gone, the zone is checked and blamed on its variable.
    drop(_days);
    let err = config::load_str(&text, "example.toml", &repo().join("config")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "environment variable HEATKPI__SITE__TIMEZONE: site.timezone: `Europe/Warszawa` is not an IANA time zone; did you mean `Europe/Warsaw`?"
    );
}

#[test]
fn secrets_are_never_printed() {
    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct Influx {
        token: Secret,
    }
    const VALUE: &str = "tok-9f8e7d6c5b4a-secret";
    let _env = env_lock();
    let _token = EnvVar::set("HEATKPI_TEST_INFLUX_TOKEN", VALUE);
    let c: Influx = toml::from_str("token = { env = \"HEATKPI_TEST_INFLUX_TOKEN\" }").unwrap();
    assert_eq!(c.token.resolve().unwrap(), VALUE);
    let shown = [
        format!("{c:?}"),
        format!("{:#?}", c.token),
        c.token.to_string(),
        toml::to_string(&c).unwrap(),
        serde_json::to_string(&c).unwrap(),
    ];
    for s in &shown {
        assert!(!s.contains(VALUE), "secret shown in {s}");
        assert!(s.contains("HEATKPI_TEST_INFLUX_TOKEN"), "{s}");
    }
    // Written in the file, the value is refused without being repeated.
    let e = toml::from_str::<Influx>(&format!("token = \"{VALUE}\"")).unwrap_err();
    assert_eq!(
        e.message(),
        "secrets are not written in the file; use { env = \"NAME\" } or { file = \"/path\" }"
    );
}

#[test]
fn settings_built_in_code_are_validated_without_positions() {
    let text = "[[weather]]\nid = \"wx\"\n";
    let mut s: config::Settings = toml::from_str(text).unwrap();
    s.site.timezone = "UTC".into();
    s.weather.push(s.weather[0].clone());
    let problems = config::validate(&s, &Default::default());
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "weather[1].id: duplicate id `wx`; already used by weather[0]; ids must be unique across all assets"
        ]
    );
}

/// Templates of real meters (register maps from public documents named in each file's header)
/// pass `check-config` when a device uses them, and read what the documents say.
#[test]
fn real_meter_templates_are_accepted() {
    use heatkpi::config::modbus::{ByteOrder, DataType, RegisterKind};
    let _env = env_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meters.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\npath = \"t.db\"\n[modbus]\ntemplates_dir = {:?}\n\
             [[meter]]\nid = \"own-use\"\nkind = \"electricity\"\n\
             [[modbus.device]]\nid = \"sdm630\"\ntemplate = \"eastron-sdm630\"\nasset = \"own-use\"\n\
             transport = \"rtu\"\naddress = \"/dev/ttyUSB0\"\nbaud = 9600\nunit_id = 1\n",
            repo().join("config/templates").display().to_string()
        ),
    )
    .unwrap();
    let (problems, loaded) = config::check_file(&path);
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(problems.is_empty(), "{}", shown.join("\n"));
    let loaded = loaded.expect("valid");
    let sdm = &loaded.templates["eastron-sdm630"];
    let p = &sdm.points[0];
    // 30073 "Total Import kWh" = input register address 0x0048, float, big-endian, kWh.
    assert_eq!(
        (p.register, p.address, p.data_type, p.order),
        (RegisterKind::Input, 0x0048, DataType::F32, ByteOrder::ABCD)
    );
    assert_eq!(p.unit.to_string(), "kWh");
}
